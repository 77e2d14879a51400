// x86_64: the general registers as PTRACE_GETREGSET(NT_PRSTATUS) returns them.
// Syscall number in rax (orig_rax at a syscall stop), arguments rdi rsi rdx r10 r8 r9,
// result in rax; the `syscall` instruction is 0f 05 (2 bytes).
#include <sys/user.h>
typedef struct user_regs_struct myconn_regs;
