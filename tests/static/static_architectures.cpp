// Compile-time facts of the architecture presets. Building this file is the test. The counts
// equal sum(p.numel() for p in model.parameters()) of the matching PyTorch modules in
// tools/unetpp_torch.py (BCirUNet, ResidualMultitaskUNet, AttentionUNet, UNetCBR, NestedUNet,
// DeeplySupervised).
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

// Seed 004's CBR2d U-Net: unet_bn plus the bias of its 18 level convolutions,
// 2 * (64 + 128 + 256 + 512) (encoder) + 2 * 1024 (5th stage) + 2 * (512 + 256 + 128 + 64) (decoder).
using cbr = presets::unet_cbr<>;
static_assert(cbr::parameter_count == 31'042'369);
static_assert(cbr::parameter_count == presets::unet_bn<>::parameter_count + 5'888);
static_assert(cbr::buffer_count == 11'776);
static_assert(cbr::output_size(256) == 256 && cbr::min_input_size == 16);
static_assert(cbr::encoder_t<0>::parameter_count == (9 * 1 * 64 + 64) + 2 * 64 + (9 * 64 * 64 + 64) + 2 * 64);
static_assert(Layer<cbr_double_conv<double_conv_cfg{.in = 2, .out = 4}>>);

// UNet++ (Zhou et al. 2018), base 32, depth 4: 15 nodes, 10 transposed convolutions, one head.
using upp = presets::unet_plusplus<>;
static_assert(upp::parameter_count == 9'045'249);
static_assert(upp::buffer_count == 7'296);
static_assert(upp::node_count == 15 && upp::output_size(256) == 256 && upp::min_input_size == 16);
static_assert(!upp::is_valid_size(200) && upp::next_valid_size(200) == 208);
// X^{0,4} reads [X^{0,0..3}, U(X^{1,3})] = 5 * 32 channels: 9*160*32 + 2*32 + 9*32*32 + 2*32.
static_assert(upp::node_t<upp::index(0, 4)>::parameter_count == 9 * 160 * 32 + 64 + 9 * 32 * 32 + 64);
static_assert(upp::up_t<upp::index(3, 1)>::parameter_count == 512 * 256 * 4 + 256);
static_assert(upp::up_t<upp::index(2, 0)>::parameter_count == 0);  // backbone nodes have no up-sampling
static_assert(upp::head_t::parameter_count == 33);
static_assert(presets::unet_plusplus<64, 4>::parameter_count == 36'164'097);

// Deep supervision: one 1x1 head (channels + 1 parameters per class) per tap.
static_assert(deeply_supervised<upp>::aux_count == 3);
static_assert(deeply_supervised<upp>::parameter_count == 9'045'249 + 3 * 33);
static_assert(presets::unet_plusplus_ds<>::parameter_count == 9'045'348);
static_assert(deeply_supervised<upp>::buffer_count == upp::buffer_count);
static_assert(deeply_supervised<cbr>::aux_count == 3);  // dec2, dec3, dec4
static_assert(deeply_supervised<cbr>::parameter_count == 31'042'369 + (128 + 1) + (256 + 1) + (512 + 1));
static_assert(deeply_supervised<presets::unet_bn<>>::parameter_count == 31'037'380);

static_assert(Layer<separable_block<separable_block_cfg{.channels = 4}>>);
static_assert(Layer<residual_block<conv_block_cfg{.in = 2, .out = 4}>>);
static_assert(Layer<max_pool2d_same<2>>);
static_assert(Layer<conv_transpose2d_same<conv_transpose2d_cfg{.in = 4, .out = 2, .kernel = 3, .stride = 2}>>);
}  // namespace
