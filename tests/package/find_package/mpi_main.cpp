// A consumer of the installed unetpp::mpi: data-parallel training's communicator over MPI.
#include <unetpp/dist/mpi.hpp>

int main(int argc, char** argv) {
    unetpp::dist::mpi_environment env(argc, argv);
    unetpp::dist::mpi_communicator comm;
    return comm.size() >= 1 ? 0 : 1;
}
