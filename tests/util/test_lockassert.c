/*
 * test_lockassert.c: the lock-ownership assertions (fs/util/lockassert.h),
 * built with the checks on (tests compile without NDEBUG): a mutex held by
 * this thread passes, one held by another thread or by nobody aborts, and
 * an rwlock passes the "held at all" check while a reader holds it.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "lockassert.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct lock_owner mu_owner;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static struct lock_owner rw_owner;

static void mu_lock(void)
{
	pthread_mutex_lock(&mu);
	lock_owned(&mu_owner);
}

static void mu_unlock(void)
{
	lock_disowned(&mu_owner);
	pthread_mutex_unlock(&mu);
}

START_TEST(held_passes)
{
	ck_assert_int_eq(LOCK_CHECKS, 1);
	mu_lock();
	LOCK_HELD(&mu_owner);
	LOCK_HELD_ANY(&mu_owner);
	mu_unlock();
	pthread_rwlock_wrlock(&rw);
	lock_owned(&rw_owner);
	LOCK_HELD(&rw_owner);
	lock_rw_disowned(&rw_owner);
	pthread_rwlock_unlock(&rw);
	pthread_rwlock_rdlock(&rw);
	lock_read_owned(&rw_owner);
	LOCK_HELD_ANY(&rw_owner); /* a reader: held */
	lock_rw_disowned(&rw_owner);
	pthread_rwlock_unlock(&rw);
	ck_assert_uint_eq(rw_owner.readers, 0);
	ck_assert_uint_eq(rw_owner.writer, 0);
}
END_TEST

START_TEST(not_held_aborts)
{
	LOCK_HELD(&mu_owner); /* nobody holds it */
}
END_TEST

static atomic_bool holding;

static void *hold_main(void *arg)
{
	mu_lock();
	atomic_store(&holding, true);
	for (;;)
		pause(); /* holds mu until the test process ends */
	return arg;
}

START_TEST(held_by_another_thread_aborts)
{
	pthread_t t;

	pthread_create(&t, NULL, hold_main, NULL);
	while (!atomic_load(&holding))
		usleep(1000);
	LOCK_HELD(&mu_owner);
}
END_TEST

START_TEST(reader_is_not_a_writer)
{
	pthread_rwlock_rdlock(&rw);
	lock_read_owned(&rw_owner);
	LOCK_HELD(&rw_owner); /* shared is not exclusive */
}
END_TEST

START_TEST(released_lock_aborts)
{
	mu_lock();
	mu_unlock();
	LOCK_HELD_ANY(&mu_owner);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lockassert");
	TCase *tc = tcase_create("lockassert");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, held_passes);
	tcase_add_test_raise_signal(tc, not_held_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, held_by_another_thread_aborts, SIGABRT);
	tcase_add_test_raise_signal(tc, reader_is_not_a_writer, SIGABRT);
	tcase_add_test_raise_signal(tc, released_lock_aborts, SIGABRT);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
