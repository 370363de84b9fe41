# A made-up include/unetpp tree with one of each mistake; scripts/check_includes.py must exit 1
# and name each, and leave the clean header alone.
file(REMOVE_RECURSE "${WORK}")
set(inc "${WORK}/include/unetpp")
file(MAKE_DIRECTORY "${inc}/layers" "${inc}/models" "${inc}/tensor" "${inc}/backend" "${inc}/config" "${WORK}/src")
file(WRITE "${inc}/config/abi.hpp" "#pragma once\n")
file(WRITE "${inc}/backend/backend.hpp" "#pragma once\n")
file(WRITE "${inc}/backend/cpu.hpp" "#pragma once\n#include \"backend.hpp\"\n")
file(WRITE "${inc}/layers/impl.hpp" "#pragma once\n#include \"../backend/cpu.hpp\"\n#include \"../backend/backend.hpp\"\n")
file(WRITE "${inc}/tensor/tensor.hpp" "#pragma once\n")
file(WRITE "${inc}/models/unet.hpp" "#pragma once\n#include \"../tensor/tensor.hpp\"\n")
file(WRITE "${inc}/layers/up.hpp" "#pragma once\n#include \"../models/unet.hpp\"\n")
file(WRITE "${inc}/layers/tool.hpp" "#pragma once\n#include \"../../../tools/cli_args.hpp\"\n")
file(WRITE "${inc}/layers/ok.hpp" "#pragma once\n#include <vector>\n#include <unetpp/tensor/tensor.hpp>\n#include \"up.hpp\"\n#include \"../config/abi.hpp\"\nnamespace unetpp::inline UNETPP_ABI::layers {\n}\nnamespace up = unetpp;\n")
# Names outside the inline ABI namespace (config/abi.hpp), and a CUDA kernel namespace in the wrong one.
file(WRITE "${inc}/backend/kern.hpp" "#pragma once\n#include \"../config/abi.hpp\"\nnamespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::detail {\n}\nnamespace unetpp::inline UNETPP_ABI::backend::cpu_kernels::inline UNETPP_KERNELS_ABI::detail {\n}\n")
file(WRITE "${inc}/layers/bare.hpp" "#pragma once\n#include \"../config/abi.hpp\"\nnamespace unetpp::layers {\n}\n")
# A program under tools/ that reaches into the library's private namespaces (its own are fine).
file(MAKE_DIRECTORY "${WORK}/tools")
file(WRITE "${WORK}/tools/prog.cpp" "namespace cli::detail { inline int f() { return 0; } }\nint a = cli::detail::f();\nint b = unetpp::io::atomic_detail::g();\n")
file(WRITE "${WORK}/src/k.cu" "namespace unetpp::inline UNETPP_ABI::cuda_kernels {\n}\n")
execute_process(COMMAND "${PYTHON}" "${CHECK}" "${WORK}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 1)
    message(FATAL_ERROR "check_includes.py exited ${rc} on a tree with upward includes (expected 1)")
endif()
foreach(expected
        "layers/up.hpp:2: 'layers' includes models/unet.hpp from 'models'"
        "layers/tool.hpp:2: includes ../../../tools/cli_args.hpp: the library may not include tools/"
        "layers/impl.hpp:2: 'layers' includes backend/cpu.hpp, a backend implementation"
        "layers/bare.hpp:3: opens namespace unetpp outside the ABI namespace"
        "src/k.cu:1: namespace unetpp::cuda_kernels belongs in UNETPP_ABI_DEVICE"
        "backend/kern.hpp:3: namespace unetpp::backend::cpu_kernels::detail must open the kernels' inner namespace"
        "tools/prog.cpp:3: uses unetpp::io::atomic_detail, a private namespace of the library")
    string(FIND "${out}" "${expected}" at)
    if(at EQUAL -1)
        message(FATAL_ERROR "check_includes.py did not report: ${expected}")
    endif()
endforeach()
string(FIND "${out}" "layers/impl.hpp:3" at)
if(NOT at EQUAL -1)
    message(FATAL_ERROR "check_includes.py reported the contract include layers/impl.hpp:3")
endif()
string(FIND "${out}" "backend/kern.hpp:5" at)
if(NOT at EQUAL -1)
    message(FATAL_ERROR "check_includes.py reported the correct kernels namespace, backend/kern.hpp:5")
endif()
string(FIND "${out}" "tools/prog.cpp:2" at)
if(NOT at EQUAL -1)
    message(FATAL_ERROR "check_includes.py reported the tool's own detail namespace, tools/prog.cpp:2")
endif()
string(FIND "${out}" "layers/ok.hpp" at)
if(NOT at EQUAL -1)
    message(FATAL_ERROR "check_includes.py reported the clean header layers/ok.hpp")
endif()
