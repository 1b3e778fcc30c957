/* A site's own monitor whose only hook no kernel has: the agent must report
 * it as down and run the others. */
#ifndef GHOST_H
#define GHOST_H
struct ghost_event {
	__u64 ts_ns;
	__u32 pid;
};
#endif
