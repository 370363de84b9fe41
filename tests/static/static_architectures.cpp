// Compile-time facts of the architecture presets. Building this file is the test. The counts
// equal sum(p.numel() for p in model.parameters()) of the matching PyTorch modules in
// tools/unetpp_torch.py (BCirUNet, ResidualMultitaskUNet, AttentionUNet).
#include <unetpp/unet.hpp>

namespace {
using namespace unetpp;

// B-Cir U-Net, seed 003 Table 1: Keras total 1,276,721 = 1,274,289 trainable + 2,432 BN moving stats.
using bcir = presets::bcir_unet;
static_assert(bcir::parameter_count + bcir::buffer_count == 1'276'721);
static_assert(bcir::buffer_count == 2'432);
static_assert(bcir::parameter_count == 1'274'289);
static_assert(bcir::output_size(1024) == 1024 && bcir::output_size(256) == 256);
static_assert(bcir::min_input_size == 16 && !bcir::is_valid_size(1000));
// Table 1 rows, level 4 (128 channels): separable 3x3 without bias = 128*9 + 128*128 = 17,536
// (5x5 would be 19,584); transposed conv 256->128 3x3 = 295,040; one level conv 128->256 = 295,168.
static_assert(separable_conv2d<separable_conv2d_cfg{.in = 128, .out = 128, .kernel = 3, .bias = false}>::parameter_count == 17'536);
static_assert(separable_conv2d<separable_conv2d_cfg{.in = 128, .out = 128, .kernel = 5, .bias = false}>::parameter_count != 17'536);
static_assert(bcir::up_t<3>::parameter_count == 295'040);
static_assert(bcir::bottleneck_t::parameter_count == 295'168 + 2 * 256);
static_assert(bcir::skip_t<0>::parameter_count == 4 * 400 + 2 * 32);  // four separable 16->16 + two BN
static_assert(bcir::head_t::parameter_count == 17);
static_assert(bcir::skip_t<3>::out_channels == 256);
// The separable kernel is a configuration value: the prose's 5x5 gives another count.
static_assert(unet<presets::bcir_unet_cfg, backend::cpu, float, bcir_policies<bcir_cfg{.skip_kernel = 5}>>::parameter_count ==
              1'274'289 + 4 * 16 * (16 + 32 + 64 + 128));

// Residual multi-task U-Net (seed 002) at the paper's 256 x 256: the flatten head dominates.
using mt = presets::residual_multitask_unet<256>;
static_assert(mt::flatten_features == 16 * 256 * 256);
static_assert(mt::cls_head_t::parameter_count == 16 * 256 * 256 * 64 + 64 + 64 + 1);
static_assert(mt::parameter_count == 69'478'898);
static_assert(mt::buffer_count == 3'904);
static_assert(presets::residual_multitask_unet<128>::parameter_count == 69'478'898 - 16 * (256 * 256 - 128 * 128) * 64);

// Attention U-Net, base 64, depth 4.
using att = presets::attention_unet;
static_assert(att::parameter_count == 31'388'013);
static_assert(att::buffer_count == 13'704);
// Gate at level 1 (64 channels, F_int 32): W_g 64*32+32, W_x 64*32+32, psi 32+1, BN 2*32+2*32+2.
static_assert(att::skip_t<0>::parameter_count == 2 * (64 * 32 + 32) + 33 + 2 * 32 + 2 * 32 + 2);

static_assert(Layer<separable_block<separable_block_cfg{.channels = 4}>>);
static_assert(Layer<residual_block<conv_block_cfg{.in = 2, .out = 4}>>);
static_assert(Layer<max_pool2d_same<2>>);
static_assert(Layer<conv_transpose2d_same<conv_transpose2d_cfg{.in = 4, .out = 2, .kernel = 3, .stride = 2}>>);
}  // namespace
