# TEST ONLY. A stand-in for ConanCenter's xsimd/8.1.0 that packages the xsimd headers already
# installed on this machine (Debian 12: libxsimd-dev 8.1.0, /usr/include/xsimd), so that the
# packaging test can run `conan create` without network access. It declares the same CMake file
# and target names as the ConanCenter recipe (xsimd, xsimd) and refuses a system xsimd that is
# not 8.1.x. Real users get xsimd from ConanCenter; never upload this recipe.
import os
import re

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.files import copy, load


class XsimdSystemHeadersConan(ConanFile):
    name = "xsimd"
    version = "8.1.0"
    description = "TEST ONLY: wraps the system's xsimd 8.1 headers"
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    _system_dir = "/usr/include/xsimd"

    def package_id(self):
        self.info.clear()

    def package(self):
        config = os.path.join(self._system_dir, "config", "xsimd_config.hpp")
        if not os.path.isfile(config):
            raise ConanInvalidConfiguration(f"no xsimd headers in {self._system_dir}")
        text = load(self, config)
        parts = [re.search(rf"#define XSIMD_VERSION_{p}\s+(\d+)", text).group(1)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        found = ".".join(parts)
        if not found.startswith("8.1."):
            raise ConanInvalidConfiguration(f"system xsimd is {found}, this stand-in needs 8.1.x")
        self.output.info(f"packaging system xsimd {found} from {self._system_dir}")
        copy(self, "*", src=self._system_dir,
             dst=os.path.join(self.package_folder, "include", "xsimd"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "xsimd")
        self.cpp_info.set_property("cmake_target_name", "xsimd")
        self.cpp_info.set_property("pkg_config_name", "xsimd")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
