/* libopus probes the processor with CPUID on every decoder reset and every switch of a
 * decoder from CELT to SILK. Under a hypervisor each CPUID traps to it: measured here, one
 * decoder reset took 141 us, more than decoding a second of speech. The answer never
 * changes while the process runs, so it is probed once. build.rs renames libopus's own
 * opus_select_arch (celt/x86/x86cpu.c) to chorus_opus_probe_arch. */

int chorus_opus_probe_arch(void);

int opus_select_arch(void)
{
    /* -1: not probed yet. Threads racing here all store the same value. */
    static int cached = -1;
    int arch = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (arch < 0) {
        arch = chorus_opus_probe_arch();
        __atomic_store_n(&cached, arch, __ATOMIC_RELAXED);
    }
    return arch;
}
