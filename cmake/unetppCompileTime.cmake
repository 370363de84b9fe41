# With UNETPP_COMPILE_TIME=ON, wrap every compile in the calling directory with `cmake -E time`
# so the build log shows how long each example or benchmark takes to compile. Compile time is
# the cost users of a header-only template library pay on every build, so it is worth watching.
function(unetpp_track_compile_time)
    if(UNETPP_COMPILE_TIME)
        if(CMAKE_GENERATOR MATCHES "Makefiles|Ninja")
            set_property(DIRECTORY PROPERTY RULE_LAUNCH_COMPILE "${CMAKE_COMMAND} -E time")
        else()
            message(STATUS "unetpp: UNETPP_COMPILE_TIME needs a Makefile or Ninja generator")
        endif()
    endif()
endfunction()
