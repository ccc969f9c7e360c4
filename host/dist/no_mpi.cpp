// join_job() of a build without MPI: one process, and an error when a launcher started several.
#include "dist/communicator.hpp"
#include "tandem/error.hpp"

namespace tandem::dist {

bool built_with_mpi() noexcept { return false; }

std::unique_ptr<Communicator> join_job() {
  const std::optional<Launch> launch = launch_from_environment();
  if (launch && launch->size > 1)
    throw Error("mpirun: started as rank " + std::to_string(launch->rank) + " of " + std::to_string(launch->size) +
                ", but this tandem was built without MPI (install libopenmpi-dev and rebuild)");
  return nullptr;
}

}  // namespace tandem::dist
