# TEST ONLY. A stand-in for ConanCenter's libjpeg-turbo that packages the libjpeg-turbo already
# installed on this machine (Debian: libjpeg62-turbo-dev, the libjpeg 6.2 API), so that the
# packaging test can run `conan create` without network access. It declares the CMake names of
# the ConanCenter recipe (the config package libjpeg-turbo and the find module JPEG with the
# target JPEG::JPEG) and links the system library. Real users get libjpeg-turbo from ConanCenter;
# never upload this recipe.
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.files import copy


class LibjpegTurboSystemConan(ConanFile):
    name = "libjpeg-turbo"
    version = "2.1.5"
    description = "TEST ONLY: wraps the system's libjpeg-turbo (libjpeg 6.2 API)"
    package_type = "shared-library"
    settings = "os", "arch", "compiler", "build_type"
    _headers = ("jpeglib.h", "jerror.h", "jmorecfg.h")
    _include_dir = "/usr/include"

    def package_id(self):
        self.info.clear()

    def _jconfig(self):
        for d in ("/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include"):
            if os.path.isfile(os.path.join(d, "jconfig.h")):
                return d
        raise ConanInvalidConfiguration("no jconfig.h found; install libjpeg62-turbo-dev")

    def package(self):
        for h in self._headers:
            if not os.path.isfile(os.path.join(self._include_dir, h)):
                raise ConanInvalidConfiguration(f"no {h} in {self._include_dir}; install libjpeg62-turbo-dev")
            copy(self, h, src=self._include_dir, dst=os.path.join(self.package_folder, "include"))
        copy(self, "jconfig.h", src=self._jconfig(), dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_find_mode", "both")
        self.cpp_info.set_property("cmake_file_name", "libjpeg-turbo")
        self.cpp_info.set_property("cmake_target_name", "libjpeg-turbo::jpeg")
        self.cpp_info.set_property("cmake_module_file_name", "JPEG")
        self.cpp_info.set_property("cmake_module_target_name", "JPEG::JPEG")
        self.cpp_info.set_property("pkg_config_name", "libjpeg")
        self.cpp_info.includedirs = ["include"]
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.system_libs = ["jpeg"]
