// The doctest main of the tests labelled `mpi` (tests/mpi/test_*.cpp), each run by ctest as
// `mpirun -np 2 --oversubscribe <test>`. MPI is initialised around the test run; every rank runs
// the same test cases in the same order (their collective calls must match), and every rank
// exits with the worst status of all ranks, so a failure on one rank fails the run on all.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <mpi.h>

#include <unetpp/dist/mpi.hpp>

int main(int argc, char** argv) {
    unetpp::dist::mpi_environment env(argc, argv);
    doctest::Context context(argc, argv);
    int rc = context.run();
    if (context.shouldExit()) return rc;
    int worst = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return worst;
}
