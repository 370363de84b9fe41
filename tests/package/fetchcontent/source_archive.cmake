# unetpp_make_source_archive(<source dir> <archive.tar.gz> <hash var>)
#
# Packs what a release archive of the checkout would hold: the files git tracks plus new files
# it does not ignore (so uncommitted work is tested too), minus files deleted from the working
# tree. Without git, or outside a git checkout, it packs what a build of the library needs:
# CMakeLists.txt, cmake/, include/ and the license file if there is one. Sets <hash var> to the
# archive's SHA-256. Used by run_package_test.cmake (MODE=fetchcontent).
function(unetpp_make_source_archive src archive hash_var)
    get_filename_component(dir "${archive}" DIRECTORY)
    file(REMOVE_RECURSE "${dir}")
    file(MAKE_DIRECTORY "${dir}")

    set(files)
    find_program(UNETPP_GIT git)
    if(UNETPP_GIT AND EXISTS "${src}/.git")
        execute_process(
            COMMAND "${UNETPP_GIT}" -C "${src}" ls-files --cached --others --exclude-standard
            RESULT_VARIABLE rc OUTPUT_VARIABLE listed ERROR_VARIABLE err)
        if(NOT rc EQUAL 0)
            message(FATAL_ERROR "FAIL: git ls-files in ${src}: ${err}")
        endif()
        string(REPLACE "\n" ";" listed "${listed}")
        foreach(f IN LISTS listed)
            if(NOT f STREQUAL "" AND EXISTS "${src}/${f}" AND NOT IS_DIRECTORY "${src}/${f}")
                list(APPEND files "${f}")
            endif()
        endforeach()
        set(how "git ls-files")
    else()
        file(GLOB_RECURSE files RELATIVE "${src}" "${src}/cmake/*" "${src}/include/*" "${src}/src/*")
        foreach(f IN ITEMS CMakeLists.txt LICENSE LICENSE.txt LICENSE.md)
            if(EXISTS "${src}/${f}")
                list(APPEND files "${f}")
            endif()
        endforeach()
        set(how "no git checkout: CMakeLists.txt, cmake/, include/, src/")
    endif()
    list(REMOVE_DUPLICATES files)
    list(LENGTH files count)
    if(count EQUAL 0)
        message(FATAL_ERROR "FAIL: no files to pack under ${src}")
    endif()
    list(JOIN files "\n" text)
    file(WRITE "${dir}/files.txt" "${text}\n")
    execute_process(
        COMMAND "${CMAKE_COMMAND}" -E tar czf "${archive}" "--files-from=${dir}/files.txt"
        WORKING_DIRECTORY "${src}"
        RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "FAIL: could not pack ${src} into ${archive}: ${err}")
    endif()
    file(SHA256 "${archive}" hash)
    message(STATUS "packed ${count} files (${how}) into ${archive}, SHA-256 ${hash}")
    set(${hash_var} "${hash}" PARENT_SCOPE)
endfunction()
