#pragma once
// Whole-file writes that never leave a partial file under the real name: the content goes
// to "<name>.tmp-<pid>-<n>" in the target's directory, which is flushed, fsync'ed and
// renamed over the target, and then the directory is fsync'ed so the rename itself is
// durable. A crash therefore leaves either the old file or the new one (plus, at worst, a
// stray temporary file). Used by every writer: safetensors, checkpoints, JSON.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <ostream>
#include <span>

namespace tandem::io {

// Calls @p write with a binary stream onto a temporary file, then publishes it at @p path.
// On any failure (the callback throwing included) the temporary file is removed, @p path is
// left as it was, and a tandem::Error (category Io) names @p path and the problem with the
// system's errno text. An error thrown by the callback as tandem::Error propagates unchanged;
// any other std::exception becomes a tandem::Error naming @p path.
void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream& out)>& write);

// The same for content already in memory.
void write_file_atomically(const std::filesystem::path& path, std::span<const std::byte> bytes);

}  // namespace tandem::io
