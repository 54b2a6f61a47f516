"""The filling engine: policy, one step (plan -> relax -> complete), the local loop, the path
documents, reference energies and the run folder. Where candidates are relaxed is decided by the
caller (this process, a process pool, or FireWorks); how a step works is decided only here."""
