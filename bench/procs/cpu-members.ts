/**
 * The client process of bench/data-track-cpu.ts: the load benchmark's members (bench/procs/load-members.ts)
 * under a name of its own, so its build (bench/lib/bundle.ts) never overwrites a load run's.
 */
import './load-members.ts';
