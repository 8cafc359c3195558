/* ratelimit.c: see ratelimit.h (layer: daemon edge; calls pthreads only). */
#include "ratelimit.h"

void ratelimit_init(struct ratelimit *rl, unsigned burst, uint64_t interval_ns)
{
	*rl = (struct ratelimit){.burst = burst, .interval_ns = interval_ns};
	pthread_mutex_init(&rl->lock, NULL);
}

void ratelimit_destroy(struct ratelimit *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool ratelimit_take(struct ratelimit *rl, uint64_t now_ns, uint64_t *summary)
{
	bool pass = false;

	*summary = 0;
	pthread_mutex_lock(&rl->lock);
	if (rl->passed < rl->burst) {
		pass = true;
		/* The first summary comes an interval after the burst's last line. */
		if (++rl->passed == rl->burst)
			rl->last_ns = now_ns;
	} else {
		rl->held++;
		rl->held_total++;
		/* now_ns may trail last_ns a little: clocks read outside the lock. */
		if (now_ns >= rl->last_ns && now_ns - rl->last_ns >= rl->interval_ns) {
			*summary = rl->held;
			rl->held = 0;
			rl->last_ns = now_ns;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return pass;
}

uint64_t ratelimit_flush(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->lock);
	uint64_t n = rl->held;
	rl->held = 0;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
