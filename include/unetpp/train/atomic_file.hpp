#pragma once
/// \file Durable, atomic file replacement for the trainer and the command-line tools. The
/// implementation lives in <unetpp/io/atomic_file.hpp> (the io writers use it too); this header
/// keeps the names unetpp::train::write_file_atomic and replace_file_keeping_previous.

#include "../config/abi.hpp"
#include "../io/atomic_file.hpp"

namespace unetpp::inline UNETPP_ABI::train {

using io::replace_file_keeping_previous;
using io::write_file_atomic;

}  // namespace unetpp::train
