# TEST ONLY. A stand-in for ConanCenter's eigen/3.4.0 that packages the Eigen headers already
# installed on this machine (Debian: libeigen3-dev, /usr/include/eigen3), so that the packaging
# test can run `conan create` without network access. It declares the same CMake file and target
# names as the ConanCenter recipe (Eigen3, Eigen3::Eigen) and refuses a system Eigen that is not
# 3.4.x. Real users get Eigen from ConanCenter; never upload this recipe.
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.files import copy, load


class EigenSystemHeadersConan(ConanFile):
    name = "eigen"
    version = "3.4.0"
    description = "TEST ONLY: wraps the system's Eigen 3.4 headers"
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    _system_dir = "/usr/include/eigen3"

    def package_id(self):
        self.info.clear()

    def package(self):
        macros = os.path.join(self._system_dir, "Eigen", "src", "Core", "util", "Macros.h")
        if not os.path.isfile(macros):
            raise ConanInvalidConfiguration(f"no Eigen headers in {self._system_dir}")
        text = load(self, macros)
        parts = [re.search(rf"#define EIGEN_{p}_VERSION\s+(\d+)", text).group(1)
                 for p in ("WORLD", "MAJOR", "MINOR")]
        found = ".".join(parts)
        if not found.startswith("3.4."):
            raise ConanInvalidConfiguration(f"system Eigen is {found}, this stand-in needs 3.4.x")
        self.output.info(f"packaging system Eigen {found} from {self._system_dir}")
        for sub in ("Eigen", "unsupported"):
            copy(self, "*", src=os.path.join(self._system_dir, sub),
                 dst=os.path.join(self.package_folder, "include", "eigen3", sub))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "Eigen3")
        self.cpp_info.set_property("cmake_target_name", "Eigen3::Eigen")
        self.cpp_info.set_property("pkg_config_name", "eigen3")
        self.cpp_info.includedirs = [os.path.join("include", "eigen3")]
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["m"]
