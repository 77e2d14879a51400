import Testing
@testable import MyConnCore

/// The ptrace helper's report (PtraceHelper), read strictly: the lines below are the ones its
/// `main` writes (`step RESULT MESSAGE` per target, then `end FREEZE_NS INJECTED_NS`, or one
/// `unavailable MESSAGE`); anything else, or a report without its `end`, is a helper that
/// ended early, and the targets it did not report fail.
@Suite("The ptrace helper's report: whole, unavailable, or cut short")
struct PtraceHelperReportTests {
    @Test("a whole report: one step per target in order, then the freeze and window lengths")
    func whole() {
        let r = PtraceHelper.parse("step done -\nstep refused fd 7 is no longer socket inode 9\nend 421 390\n", count: 2)
        #expect(r == .steps([ActionStep(.done, CutDetail()), ActionStep(.refused("fd 7 is no longer socket inode 9"), CutDetail())],
                            freeze: 421, injected: 390))
    }

    @Test("unavailable: the message, nothing done")
    func unavailable() {
        #expect(PtraceHelper.parse("unavailable cannot stop a mysqld thread: threadGone(tid: 5)\n", count: 1)
                == .unavailable("cannot stop a mysqld thread: threadGone(tid: 5)"))
    }

    @Test("cut short: no end, too few or too many steps, an unknown result, a bad number, empty output")
    func cutShort() {
        #expect(PtraceHelper.parse("step done -\n", count: 1) == .cutShort([ActionStep(.done, CutDetail())]))
        #expect(PtraceHelper.parse("step done -\nend 1 1\n", count: 2) == .cutShort([ActionStep(.done, CutDetail())]))
        #expect(PtraceHelper.parse("step done -\nstep done -\nend 1 1\n", count: 1) == .cutShort([ActionStep(.done, CutDetail())]))
        #expect(PtraceHelper.parse("step maybe -\nend 1 1\n", count: 1) == .cutShort([]))
        #expect(PtraceHelper.parse("step done -\nend x 1\n", count: 1) == .cutShort([ActionStep(.done, CutDetail())]))
        #expect(PtraceHelper.parse("", count: 1) == .cutShort([]))
        #expect(PtraceHelper.parse("step done -\nunavailable late\n", count: 1) == .cutShort([ActionStep(.done, CutDetail())]))
    }

    @Test("a wait status said in words")
    func status() {
        #expect(PtraceHelper.describe(status: 9) == "killed by signal 9")
        #expect(PtraceHelper.describe(status: 64 << 8) == "exit status 64")
    }
}
