/// The errors of the `PagedFile` module.
///
/// A small closed set, thrown with typed throws: callers can switch over it
/// exhaustively. Every error is raised before the operation changes any state
/// that another thread can observe, so a failed call leaves no partial data.
public enum PagedFileError: Error, Equatable, Sendable {
    /// The page pool cannot hold the pages the operation needs: the pool's
    /// capacity counter (rented plus reserved pages) would exceed its capacity.
    /// Nothing was written and no capacity was taken.
    case outOfSpace

    /// An argument is out of its domain: a negative offset or length, an
    /// offset plus count that overflows `Int`, a page size that is not a power
    /// of two between 4 KiB and 2 MiB, a capacity smaller than one page.
    /// The reason names the argument.
    case invalidArgument(String)

    /// The file was closed; no further reads, writes or length changes are
    /// accepted.
    case closed

    /// The operating system refused to map memory for the pool or a page
    /// table; the value is the `errno` of `mmap`.
    case mapFailed(errno: Int32)
}
