/* syscall(): fork-like raw clones (SYS_fork, SYS_clone without CLONE_VM)
 * go to fdt_syscall_forklike, which reconnects the child; every other call
 * jumps to libc's syscall() with the registers and stack untouched, so a
 * raw vfork-like clone still returns straight to its caller. */
#if defined(__x86_64__)
    .text
    .globl syscall
    .type syscall, @function
syscall:
    .cfi_startproc
    cmpq $57, %rdi          /* SYS_fork */
    je 1f
    cmpq $56, %rdi          /* SYS_clone */
    jne 2f
    testq $0x100, %rsi      /* CLONE_VM */
    jnz 2f
1:  jmp fdt_syscall_forklike
2:  movq fdt_real_syscall_ptr(%rip), %rax
    testq %rax, %rax
    jz 3f
    jmp *%rax
3:  subq $8, %rsp           /* not resolved yet: resolve, then retry */
    .cfi_adjust_cfa_offset 8
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %r8
    pushq %r9               /* 8 + 8 + 48 bytes below entry: aligned */
    call fdt_real_syscall
    popq %r9
    popq %r8
    popq %rcx
    popq %rdx
    popq %rsi
    popq %rdi
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    jmp *%rax
    .cfi_endproc
    .size syscall, .-syscall
#endif
    .section .note.GNU-stack,"",@progbits
