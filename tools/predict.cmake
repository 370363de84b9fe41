# unetpp-predict: command-line segmentation of images of any size (docs/INFERENCE.md).
# Included from tools/CMakeLists.txt. Builds the program and wires the end-to-end test
# tests/unit/infer/test_predict_cli.cpp (ctest unit_infer_predict_cli, label unit, created by
# tests/CMakeLists.txt's glob) to it: the test receives the program's path as the compile
# definition UNETPP_PREDICT_EXE and is built after the program.

add_executable(unetpp-predict "${CMAKE_CURRENT_LIST_DIR}/unetpp-predict.cpp")
target_link_libraries(unetpp-predict PRIVATE unetpp::kernels unetpp_cli_bf16)  # --precision bf16 (CMakeLists.txt)
if(TARGET unetpp_dev_flags)
    target_link_libraries(unetpp-predict PRIVATE unetpp_dev_flags)
endif()
# --device cuda (tools/cli_device.hpp): the backend::cuda networks, only with UNETPP_WITH_CUDA=ON
if(UNETPP_WITH_CUDA)
    target_sources(unetpp-predict PRIVATE "${CMAKE_CURRENT_LIST_DIR}/ensemble_members_cuda.cpp"
                                          "${CMAKE_CURRENT_LIST_DIR}/cli_device_cuda.cpp")
    target_link_libraries(unetpp-predict PRIVATE unetpp::cuda)
endif()
if(UNETPP_INSTALL)
    include(GNUInstallDirs)
    install(TARGETS unetpp-predict RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif()

# The test target is made by tests/CMakeLists.txt, which may be processed before or after this
# file; connect the two once the whole project has been read.
function(unetpp_predict_wire_test)
    if(TARGET unit_infer_predict_cli AND TARGET unetpp-predict)
        target_compile_definitions(unit_infer_predict_cli PRIVATE
            UNETPP_PREDICT_EXE="$<TARGET_FILE:unetpp-predict>")
        add_dependencies(unit_infer_predict_cli unetpp-predict)
    endif()
endfunction()
cmake_language(DEFER DIRECTORY "${PROJECT_SOURCE_DIR}" CALL unetpp_predict_wire_test)
