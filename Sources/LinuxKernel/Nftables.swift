@preconcurrency import CNftables

/// What libnftables said when a command failed: its error text (one or more lines).
public struct NftError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// One libnftables context (`libnftables(3)`): commands in nft's own syntax, listings back as
/// JSON with handles. It talks netlink to the network namespace of the thread that made it, so
/// make and use it inside ``NetworkNamespace/run(in:_:)``. Not thread-safe.
public final class NftContext {
    private let ctx: OpaquePointer

    /// - Throws: when libnftables cannot allocate a context.
    public init() throws(NftError) {
        guard let c = nft_ctx_new(UInt32(NFT_CTX_DEFAULT)) else { throw NftError(message: "nft_ctx_new failed") }
        ctx = c
        nft_ctx_output_set_flags(ctx, UInt32(NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE))
        _ = nft_ctx_buffer_output(ctx)
        _ = nft_ctx_buffer_error(ctx)
    }

    deinit { nft_ctx_free(ctx) }

    /// Runs `commands` (one transaction: all or nothing) and returns what they printed (JSON for
    /// a `list`, empty otherwise).
    @discardableResult
    public func run(_ commands: String) throws(NftError) -> String {
        let rc = nft_run_cmd_from_buffer(ctx, commands)
        let out = nft_ctx_get_output_buffer(ctx).map { String(cString: $0) } ?? ""
        let err = nft_ctx_get_error_buffer(ctx).map { String(cString: $0) } ?? ""
        guard rc == 0 else {
            throw NftError(message: err.isEmpty ? "nftables refused the command" : err)
        }
        return out
    }
}
