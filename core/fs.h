// File helpers: whole-file reads with clear errors, and atomic writes (temp + fsync + rename).
// Implemented on POSIX calls, not std::filesystem: libtorch.so exports its own copies of many
// std::filesystem functions, and in binaries linking LibTorch those copies misbehave.
#pragma once
#include <string>

namespace rleif {

// Reads a whole file; throws rleif::Error naming the path when it cannot.
std::string read_file(const std::string& path);
// Writes `data` to `path` atomically: a reader sees the old file or the new one, never a mix.
// A failed write (disk full, read-only) is an rleif::Error naming the path; the old file stays.
void write_file_atomic(const std::string& path, const std::string& data);
// "<strerror(err)>" plus what to check for the errors a full or read-only disk gives: ENOSPC,
// EDQUOT, EFBIG ("is the disk full?") and EROFS, EACCES, EPERM ("is it writable?"). For messages
// of failed writes: str(path, ": write failed (", write_error(errno), ")").
std::string write_error(int err);
// fsync a file or directory by path (used after renames so they survive a power cut).
void fsync_path(const std::string& path);
// Atomically replaces directory `dst` with the fully written directory `tmp` (rename, old removed).
void replace_dir_atomic(const std::string& tmp, const std::string& dst);
bool path_exists(const std::string& path);
bool is_directory(const std::string& path);
// Removes a file or a directory tree; no error when it does not exist. Use this, never
// std::filesystem::remove_all: libtorch.so exports its own copy of remove_all, which the dynamic
// linker binds first in any binary linking LibTorch, and that copy crashes on non-empty directories.
void remove_tree(const std::string& path);
// "a/b/" -> "a/b" (but "/" stays "/").
std::string strip_trailing_slashes(const std::string& path);
// The directory part of a path ("a/b/c" -> "a/b", "c" -> ".").
std::string parent_dir(const std::string& path);
// Copies a file (atomically at the destination).
void copy_file(const std::string& src, const std::string& dst);
// Creates a directory and its parents; no error when it exists.
void make_dirs(const std::string& path);

}  // namespace rleif
