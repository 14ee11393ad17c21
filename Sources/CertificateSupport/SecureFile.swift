#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes secrets and the files that must match them without ever exposing a partial or
/// world-readable file: create the directory 0700, write a temporary file created 0600 in it,
/// fsync it, rename it over the target, fsync the directory. A reader sees the old file or the
/// new one, and a crash at any instant leaves one of the two.
public enum SecureFile {
    /// Creates `path`'s directory (0700) if missing, then atomically replaces `path` with `bytes`.
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        let directory = directoryName(of: path)
        try createDirectory(directory)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure("create \(temporary)") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(descriptor) }
            // The umask may have narrowed `mode`; make it exactly what was asked.
            guard fchmod(descriptor, mode) == 0 else { throw failure("chmod \(temporary)") }
            var remaining = bytes[...]
            while !remaining.isEmpty {
                let written = remaining.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                guard written > 0 else { throw failure("write \(temporary)") }
                remaining = remaining.dropFirst(written)
            }
            guard fsync(descriptor) == 0 else { throw failure("fsync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw failure("rename \(temporary) to \(path)") }
        ok = true
        try syncDirectory(directory)
    }

    /// Creates `path` and its parents with mode 0700 where missing; existing ones are left as they are.
    public static func createDirectory(_ path: String) throws {
        var isDirectory = stat()
        if stat(path, &isDirectory) == 0 { return }
        let parent = directoryName(of: path)
        if parent != path { try createDirectory(parent) }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else { throw failure("create directory \(path)") }
    }

    /// The file's permission bits, or nil when it does not exist.
    public static func permissions(of path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// Reads a whole file of at most `maximumSize` bytes (keys, certificates, passwords are
    /// small; a larger file is refused, not read into memory).
    public static func read(_ path: String, maximumSize: Int = 16 << 20) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open \(path)") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw failure("read \(path)") }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            guard bytes.count <= maximumSize else {
                throw CertificateSupportError(.fileSystem, "cannot read \(path): it is larger than \(maximumSize) bytes")
            }
        }
    }

    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open directory \(path)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("fsync directory \(path)") }
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func failure(_ what: String) -> CertificateSupportError {
        CertificateSupportError(.fileSystem, "cannot \(what): \(String(cString: strerror(errno)))")
    }
}
