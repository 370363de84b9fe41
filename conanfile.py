# Conan 2 recipe for unetpp, a header-only C++20 U-Net library.
#
#   conan create . -s compiler.cppstd=20 --build=missing
#
# Eigen, xsimd and libjpeg-turbo (JPEG decoding, option with_libjpeg) come from ConanCenter. The package holds only the headers: Conan's CMakeDeps
# generates the CMake package (find_package(unetpp) -> unetpp::unetpp), so the CMake files that
# unetpp's own install step writes are not packaged. See docs/INSTALL.md, section Conan.
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy
from conan.tools.layout import basic_layout
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class UnetppConan(ConanFile):
    name = "unetpp"
    version = "0.1.0"
    description = "Header-only C++20 U-Net library"
    topics = ("unet", "segmentation", "neural-network", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "with_openmp": [True, False],
        "with_cuda": [True, False],
        # JPEG decoding in io::read_image; without it JPEG files are refused (stb_image's JPEG
        # decoder is not compiled in, see include/unetpp/io/detail/jpeg_decode.hpp).
        "with_libjpeg": [True, False],
    }
    default_options = {
        "with_openmp": True,
        "with_cuda": False,
        "with_libjpeg": True,
    }
    exports_sources = "include/*", "src/*", "CMakeLists.txt", "cmake/*", "LICENSE*"
    no_copy_source = True

    # Compilers the library has been built with. Older ones lack parts of C++20 that unetpp
    # uses (class-type template parameters, designated initialisers, concepts).
    _min_compiler_versions = {
        "gcc": "12",
        "clang": "14",
    }

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        # transitive_headers: unetpp's public headers include Eigen and xsimd headers.
        self.requires("eigen/3.4.0", transitive_headers=True)
        # unetpp is written against the xsimd 8 API (8.1.0 is also what Debian 12 ships).
        self.requires("xsimd/8.1.0", transitive_headers=True)
        if self.options.with_libjpeg:
            # io/image.hpp includes <jpeglib.h> and calls libjpeg (the libjpeg 6.2 API).
            self.requires("libjpeg-turbo/[>=2.1 <4]", transitive_headers=True, transitive_libs=True)

    def package_id(self):
        # Header-only: one package for every configuration. The options only change
        # package_info(), which runs in the consumer's configuration.
        self.info.clear()

    def validate(self):
        check_min_cppstd(self, 20)
        compiler = str(self.settings.compiler)
        minimum = self._min_compiler_versions.get(compiler)
        if minimum and Version(self.settings.compiler.version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs {compiler} {minimum} or newer (C++20)")
        if not minimum:
            self.output.warning(f"{self.ref} has not been tested with {compiler}")

    def package(self):
        copy(self, "LICENSE*", src=self.source_folder,
             dst=os.path.join(self.package_folder, "licenses"))
        copy(self, "*", src=os.path.join(self.source_folder, "include"),
             dst=os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "unetpp")
        self.cpp_info.set_property("cmake_target_name", "unetpp::unetpp")
        self.cpp_info.set_property("pkg_config_name", "unetpp")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.resdirs = []
        self.cpp_info.frameworkdirs = []

        if self.options.with_openmp:
            # OpenMP comes with the compiler; there is nothing to require. These are the flags
            # CMake's FindOpenMP gives the unetpp::unetpp target of a plain CMake install.
            compiler = str(self.settings.compiler)
            if compiler == "gcc":
                self.cpp_info.cxxflags.append("-fopenmp")
                self.cpp_info.sharedlinkflags.append("-fopenmp")
                self.cpp_info.exelinkflags.append("-fopenmp")
                self.cpp_info.system_libs.append("gomp")
            elif compiler in ("clang", "apple-clang"):
                self.cpp_info.cxxflags.append("-fopenmp")
                self.cpp_info.system_libs.append("omp")
            elif compiler == "msvc":
                self.cpp_info.cxxflags.append("/openmp")
            if self.settings.os in ("Linux", "FreeBSD"):
                self.cpp_info.system_libs.append("pthread")

        if self.options.with_libjpeg:
            self.cpp_info.defines.append("UNETPP_HAS_LIBJPEG=1")

        if self.options.with_cuda:
            # The CUDA toolkit and cuDNN are not Conan packages: they must be installed on the
            # system, where the compiler and linker find them.
            self.cpp_info.defines.append("UNETPP_WITH_CUDA=1")
            self.cpp_info.system_libs.extend(["cudart", "cublas", "cudnn"])
