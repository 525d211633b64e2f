// SPDX-License-Identifier: GPL-2.0
/*
 * The Rust virtio-rng sample (samples/rust/rust_virtio_rng.rs) on our
 * transport: it binds every entropy device instead of the C virtio_rng,
 * serves /dev/hwrng, and sleeps both ways:
 *
 * - a device that negotiated SUSPEND keeps its queue across the sleep:
 *   the driver's freeze and restore are not called, and a request
 *   outstanding at suspend completes after the resume;
 * - a device on the reset-based path goes through the driver's freeze
 *   (queue deleted, outstanding request dropped, source unregistered)
 *   and restore (queue found again, source registered again).
 *
 * The devices are rate-limited by QEMU (max-bytes per period), so that a
 * request can be kept outstanding: after draining, the next one waits
 * for the device's next period.  VS_RNG_DEVICES devices are expected,
 * VS_RNG_SUSPEND of them on the SUSPEND path (the rest reset-based);
 * VS_RNG_PERIOD_MS is the devices' period.
 */
#include <pthread.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define DRIVER "rust_virtio_rng"
#define MAX_DEVS 4

struct rngdev {
	char vdev[32];		/* virtioN */
	char name[64];		/* rust_virtio_rng.N, the hwrng source */
	int suspend;		/* negotiated SUSPEND */
};

static int find_devices(struct rngdev *d)
{
	struct dirent *de;
	char dialect[32];
	int n = 0;
	DIR *dir = opendir("/sys/bus/virtio/drivers/" DRIVER);

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < MAX_DEVS) {
		if (strncmp(de->d_name, "virtio", 6) || strlen(de->d_name) >= sizeof(d->vdev))
			continue;
		strcpy(d[n].vdev, de->d_name);
		snprintf(d[n].name, sizeof(d[n].name), DRIVER ".%s", de->d_name + 6);
		d[n].suspend = !vs_suspend_attr(de->d_name, "dialect", dialect, sizeof(dialect)) &&
			       strncmp(dialect, "none", 4);
		n++;
	}
	closedir(dir);
	return n;
}

static int select_source(const char *name)
{
	return vs_write_attr("/sys/class/misc/hw_random/rng_current", name);
}

static int current_is(const char *name)
{
	char cur[64];

	return !vs_read_attr("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur)) &&
	       !strncmp(cur, name, strlen(name)) &&
	       (cur[strlen(name)] == '\n' || !cur[strlen(name)]);
}

static ssize_t read_full(const char *path, unsigned char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -errno;
	while (got < len) {
		n = read(fd, buf + got, len - got);
		if (n <= 0) {
			n = n ? -errno : -EIO;
			close(fd);
			return n;
		}
		got += n;
	}
	close(fd);
	return got;
}

static int distinct(const unsigned char *buf, size_t len)
{
	int seen[256] = { 0 }, n = 0;
	size_t i;

	for (i = 0; i < len; i++)
		if (!seen[buf[i]]++)
			n++;
	return n;
}

/*
 * Reads the current source without waiting until it has nothing for
 * 150 ms: its bytes and the core's are used up and the driver's next
 * request is outstanding, waiting for the device's next period.
 */
static int drain(void)
{
	unsigned char buf[64];
	long start = vs_now_ms(), quiet = -1;
	int fd = open("/dev/hwrng", O_RDONLY | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (vs_now_ms() - start < 20000) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			quiet = -1;
			continue;
		}
		if (n < 0 && errno != EAGAIN) {
			n = -errno;
			close(fd);
			return n;
		}
		if (quiet < 0)
			quiet = vs_now_ms();
		else if (vs_now_ms() - quiet >= 150)
			break;
		usleep(10 * 1000);
	}
	close(fd);
	return quiet >= 0 && vs_now_ms() - quiet >= 150 ? 0 : -ETIMEDOUT;
}

/*
 * The driver's freeze and restore messages, counted from the kernel log
 * as it grows: the log buffer is small, and a sleep cycle on PCI prints
 * enough to push older lines out, so a tail is read after every cycle.
 */
struct kmsg_tail {
	int fd;
	int frozen[MAX_DEVS], restored[MAX_DEVS];
};

static int kmsg_open(struct kmsg_tail *k)
{
	memset(k, 0, sizeof(*k));
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (k->fd < 0)
		return -errno;
	return lseek(k->fd, 0, SEEK_END) < 0 ? -errno : 0;
}

/* Reads the new lines; -EPIPE if some were lost before they were read. */
static int kmsg_update(struct kmsg_tail *k, const struct rngdev *d, int n)
{
	char rec[2048], pat[96];
	ssize_t len;
	int i, ret = 0;

	for (;;) {
		len = read(k->fd, rec, sizeof(rec) - 1);
		if (len < 0 && errno == EPIPE) {
			ret = -EPIPE;
			continue;
		}
		if (len <= 0)
			break;
		rec[len] = 0;
		for (i = 0; i < n; i++) {
			snprintf(pat, sizeof(pat), "%s: frozen", d[i].name);
			k->frozen[i] += !!strstr(rec, pat);
			snprintf(pat, sizeof(pat), "%s: restored", d[i].name);
			k->restored[i] += !!strstr(rec, pat);
		}
	}
	return ret;
}

/* A read of /dev/hwrng in a thread of its own. */
struct pending {
	pthread_t thread;
	size_t len;
	volatile int done;
	ssize_t ret;
	long done_ms;
};

static void *pending_read(void *arg)
{
	struct pending *p = arg;
	unsigned char buf[64];

	p->ret = read_full("/dev/hwrng", buf, p->len);
	p->done_ms = vs_now_ms();
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int wait_done(struct pending *p, long timeout_ms)
{
	long start = vs_now_ms();

	while (!__atomic_load_n(&p->done, __ATOMIC_ACQUIRE)) {
		if (vs_now_ms() - start > timeout_ms)
			return -ETIMEDOUT;
		usleep(10 * 1000);
	}
	pthread_join(p->thread, NULL);
	return 0;
}

FIXTURE(rng) {
	struct rngdev dev[MAX_DEVS];
	int n;
};

FIXTURE_SETUP(rng)
{
	self->n = find_devices(self->dev);
	ASSERT_EQ(vs_env_long("VS_RNG_DEVICES", 2), self->n)
		TH_LOG("%d devices bound to " DRIVER, self->n);
}

FIXTURE_TEARDOWN(rng)
{
}

/*
 * Runs @check on every device on the SUSPEND path (@suspend 1) or the
 * reset-based one (0): one of each on every transport of the guest.
 */
static void for_each_on_path(struct __test_metadata *_metadata, FIXTURE_DATA(rng) *self,
			     int suspend,
			     void (*check)(struct __test_metadata *, struct rngdev *))
{
	int i, n = 0;

	for (i = 0; i < self->n; i++) {
		if (self->dev[i].suspend != suspend)
			continue;
		TH_LOG("%s (%s)", self->dev[i].vdev, self->dev[i].name);
		check(_metadata, &self->dev[i]);
		n++;
	}
	ASSERT_LT(0, n) TH_LOG("no device on the %s path", suspend ? "SUSPEND" : "reset-based");
}

TEST_F(rng, bound_instead_of_c_driver)
{
	char avail[512];
	int i, suspend = 0;

	ASSERT_NE(0, access("/sys/module/virtio_rng", F_OK))
		TH_LOG("the C virtio_rng is loaded");
	ASSERT_EQ(0, vs_read_attr("/sys/class/misc/hw_random/rng_available", avail, sizeof(avail)));
	for (i = 0; i < self->n; i++) {
		EXPECT_NE(NULL, strstr(avail, self->dev[i].name))
			TH_LOG("%s not in rng_available: %s", self->dev[i].name, avail);
		suspend += self->dev[i].suspend;
	}
	EXPECT_EQ(vs_env_long("VS_RNG_SUSPEND", 1), suspend);
	/* The first device registered is the current source. */
	ASSERT_EQ(0, vs_read_attr("/sys/class/misc/hw_random/rng_current", avail, sizeof(avail)));
	EXPECT_EQ(0, strncmp(avail, DRIVER ".", strlen(DRIVER) + 1))
		TH_LOG("rng_current is %s", avail);
}

TEST_F(rng, every_device_serves_hwrng)
{
	unsigned char a[256], b[256];
	long before, after, wait;
	int i;

	for (i = 0; i < self->n; i++) {
		struct rngdev *d = &self->dev[i];

		ASSERT_EQ(0, select_source(d->name));
		ASSERT_TRUE(current_is(d->name));
		ASSERT_LT(0, vs_irq_lines(d->vdev, &before)) TH_LOG("no interrupt named %s", d->vdev);
		ASSERT_EQ(sizeof(a), read_full("/dev/hwrng", a, sizeof(a)));
		ASSERT_EQ(sizeof(b), read_full("/dev/hwrng", b, sizeof(b)));
		/*
		 * 512 bytes are 8 requests of 64, each answered with an
		 * interrupt; but the reader takes a used buffer as soon as it
		 * finds it, before the interrupt is handled, and on a loaded
		 * host one interrupt can stand for several answers (seen: 2 ->
		 * 3). So: at least one, however late.
		 */
		for (wait = 0; wait < 10000; wait += 10) {
			ASSERT_LT(0, vs_irq_lines(d->vdev, &after));
			if (after > before)
				break;
			usleep(10 * 1000);
		}
		EXPECT_LT(before, after) TH_LOG("%s: %ld -> %ld interrupts", d->vdev, before, after);
		EXPECT_LT(100, distinct(a, sizeof(a)));
		EXPECT_NE(0, memcmp(a, b, sizeof(a)));
	}
}

/*
 * SUSPEND path, debugfs: a read waits for the outstanding request; the
 * device is suspended, its period passes (it would have answered), it
 * must hold the answer; after the resume the same request completes.
 */
static void suspend_path_request(struct __test_metadata *_metadata, struct rngdev *d)
{
	long period = vs_env_long("VS_RNG_PERIOD_MS", 1000);
	char ctl[PATH_MAX], path[64];
	struct kmsg_tail k;
	struct pending p;
	int attempt;

	vs_control_path(d->vdev, ctl, sizeof(ctl));
	ASSERT_EQ(0, kmsg_open(&k));
	ASSERT_EQ(0, select_source(d->name));
	for (attempt = 0; attempt < 5; attempt++) {
		memset(&p, 0, sizeof(p));
		p.len = 16;
		ASSERT_EQ(0, drain());
		ASSERT_EQ(0, pthread_create(&p.thread, NULL, pending_read, &p));
		usleep(50 * 1000);
		if (p.done) {
			pthread_join(p.thread, NULL);
			continue;	/* the device's period turned meanwhile */
		}
		ASSERT_EQ(0, vs_write_attr(ctl, "suspend"));
		if (!p.done)
			break;
		ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
		pthread_join(p.thread, NULL);
	}
	ASSERT_GT(5, attempt) TH_LOG("never caught a request outstanding at suspend");
	ASSERT_EQ(0, vs_suspend_attr(d->vdev, "state", path, sizeof(path)));
	EXPECT_EQ(0, strncmp(path, "suspended", 9)) TH_LOG("state: %s", path);
	usleep((period + 500) * 1000);
	EXPECT_FALSE(p.done) TH_LOG("the request completed while the device was suspended");
	ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
	ASSERT_EQ(0, wait_done(&p, period + 5000)) TH_LOG("the read never completed after resume");
	EXPECT_EQ(16, p.ret) TH_LOG("read: %zd", p.ret);
	ASSERT_EQ(0, vs_suspend_attr(d->vdev, "last_path", path, sizeof(path)));
	EXPECT_EQ(0, strncmp(path, "suspend", 7)) TH_LOG("last_path: %s", path);
	ASSERT_EQ(0, kmsg_update(&k, d, 1));
	EXPECT_EQ(0, k.frozen[0]) TH_LOG("the driver's freeze ran on the SUSPEND path");
	EXPECT_EQ(0, k.restored[0]) TH_LOG("the driver's restore ran on the SUSPEND path");
	close(k.fd);
	EXPECT_TRUE(current_is(d->name));
}

TEST_F(rng, suspend_path_request_completes_after_resume)
{
	for_each_on_path(_metadata, self, 1, suspend_path_request);
}

/*
 * Reset-based path, debugfs: the driver's freeze deletes the queue with
 * the request outstanding and wakes the waiting read, which goes on with
 * the next source or gets ENODEV (as with the C driver), never hangs;
 * restore finds the queue again and the device serves again.
 */
static void classic_path_freeze_restore(struct __test_metadata *_metadata, struct rngdev *d)
{
	char ctl[PATH_MAX], path[64];
	unsigned char buf[128];
	long before, after;
	struct kmsg_tail k;
	struct pending p;

	vs_control_path(d->vdev, ctl, sizeof(ctl));
	ASSERT_EQ(0, kmsg_open(&k));
	ASSERT_EQ(0, select_source(d->name));
	memset(&p, 0, sizeof(p));
	p.len = 16;
	ASSERT_EQ(0, drain());
	ASSERT_EQ(0, pthread_create(&p.thread, NULL, pending_read, &p));
	usleep(50 * 1000);
	ASSERT_EQ(0, vs_write_attr(ctl, "suspend"));
	ASSERT_EQ(0, wait_done(&p, 5000)) TH_LOG("the read hangs after the driver's freeze");
	EXPECT_TRUE(p.ret == 16 || p.ret == -ENODEV) TH_LOG("read: %zd", p.ret);
	EXPECT_FALSE(current_is(d->name)) TH_LOG("a frozen device is still the current source");
	ASSERT_EQ(0, vs_write_attr(ctl, "resume"));
	ASSERT_EQ(0, kmsg_update(&k, d, 1));
	EXPECT_EQ(1, k.frozen[0]);
	EXPECT_EQ(1, k.restored[0]);
	close(k.fd);
	ASSERT_EQ(0, vs_suspend_attr(d->vdev, "last_path", path, sizeof(path)));
	EXPECT_EQ(0, strncmp(path, "classic", 7)) TH_LOG("last_path: %s", path);
	ASSERT_EQ(0, select_source(d->name)) TH_LOG("the source was not registered again");
	ASSERT_LT(0, vs_irq_lines(d->vdev, &before));
	ASSERT_EQ(sizeof(buf), read_full("/dev/hwrng", buf, sizeof(buf)));
	ASSERT_LT(0, vs_irq_lines(d->vdev, &after));
	EXPECT_LT(before, after) TH_LOG("no interrupt from the rebuilt queue");
}

TEST_F(rng, classic_path_freeze_restore_rebuild_the_queue)
{
	for_each_on_path(_metadata, self, 0, classic_path_freeze_restore);
}

/*
 * System sleep, VS_RNG_CYCLES s2idle cycles, each with a request
 * outstanding on every device at suspend; every device serves after each.
 */
TEST_F(rng, s2idle_cycles_both_paths)
{
	long cycles = vs_env_long("VS_RNG_CYCLES", 20), c;
	long suspends0[MAX_DEVS];
	unsigned char buf[32];
	struct kmsg_tail k;
	char path[64];
	int i;

	ASSERT_EQ(0, kmsg_open(&k));
	for (i = 0; i < self->n; i++)
		suspends0[i] = vs_suspend_count(self->dev[i].vdev, "suspends");
	for (c = 0; c < cycles; c++) {
		for (i = 0; i < self->n; i++) {
			ASSERT_EQ(0, select_source(self->dev[i].name));
			ASSERT_EQ(0, drain()) TH_LOG("cycle %ld: %s", c, self->dev[i].name);
		}
		ASSERT_EQ(0, vs_sleep_cycle("freeze")) TH_LOG("cycle %ld", c);
		ASSERT_EQ(0, kmsg_update(&k, self->dev, self->n)) TH_LOG("cycle %ld: log lost", c);
		for (i = 0; i < self->n; i++) {
			ASSERT_EQ(0, select_source(self->dev[i].name))
				TH_LOG("cycle %ld: %s not registered", c, self->dev[i].name);
			ASSERT_EQ(sizeof(buf), read_full("/dev/hwrng", buf, sizeof(buf)))
				TH_LOG("cycle %ld: %s", c, self->dev[i].name);
		}
	}
	for (i = 0; i < self->n; i++) {
		struct rngdev *d = &self->dev[i];

		ASSERT_EQ(0, vs_suspend_attr(d->vdev, "last_path", path, sizeof(path)));
		if (d->suspend) {
			EXPECT_EQ(0, strncmp(path, "suspend", 7)) TH_LOG("%s: %s", d->vdev, path);
			EXPECT_LE(suspends0[i] + cycles, vs_suspend_count(d->vdev, "suspends"));
			EXPECT_EQ(0, k.frozen[i]) TH_LOG("%s: freeze ran", d->vdev);
			EXPECT_EQ(0, k.restored[i]) TH_LOG("%s: restore ran", d->vdev);
		} else {
			EXPECT_EQ(0, strncmp(path, "classic", 7)) TH_LOG("%s: %s", d->vdev, path);
			EXPECT_EQ(cycles, k.frozen[i]) TH_LOG("%s", d->vdev);
			EXPECT_EQ(cycles, k.restored[i]) TH_LOG("%s", d->vdev);
		}
	}
	close(k.fd);
}

/* Reads /dev/hwrng in a loop until told to stop, through unload and reload. */
struct reader {
	pthread_t thread;
	volatile int stop;
	long bytes, enodev, last_ok_ms;
};

static void *reader_loop(void *arg)
{
	struct reader *r = arg;
	unsigned char buf[64];
	ssize_t n;

	while (!r->stop) {
		int fd = open("/dev/hwrng", O_RDONLY);

		if (fd < 0) {
			usleep(20 * 1000);
			continue;
		}
		while (!r->stop) {
			n = read(fd, buf, sizeof(buf));
			if (n > 0) {
				__atomic_add_fetch(&r->bytes, n, __ATOMIC_RELAXED);
				r->last_ok_ms = vs_now_ms();
				continue;
			}
			if (n < 0 && errno == ENODEV)
				r->enodev++;
			usleep(20 * 1000);
			break;
		}
		close(fd);
	}
	return NULL;
}

static void reload(struct __test_metadata *_metadata, FIXTURE_DATA(rng) *self,
		   const char *mod)
{
	long cycles = vs_env_long("VS_RNG_RELOADS", 3), c, t;
	struct reader r = { 0 };
	struct rngdev d[MAX_DEVS];

	ASSERT_EQ(0, pthread_create(&r.thread, NULL, reader_loop, &r));
	for (c = 0; c < cycles; c++) {
		long bytes;

		usleep(200 * 1000);
		ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
			TH_LOG("rmmod %s: %s", mod, strerror(errno));
		ASSERT_GE(0, find_devices(d)) TH_LOG("cycle %ld: still bound after rmmod", c);
		ASSERT_EQ(0, vs_modprobe(mod)) TH_LOG("insmod %s", mod);
		for (t = 0; t < 100 && find_devices(d) < self->n; t++)
			usleep(50 * 1000);
		ASSERT_EQ(self->n, find_devices(d)) TH_LOG("cycle %ld: not bound again", c);
		bytes = __atomic_load_n(&r.bytes, __ATOMIC_RELAXED);
		for (t = 0; t < 100 && __atomic_load_n(&r.bytes, __ATOMIC_RELAXED) == bytes; t++)
			usleep(50 * 1000);
		EXPECT_LT(bytes, __atomic_load_n(&r.bytes, __ATOMIC_RELAXED))
			TH_LOG("cycle %ld: no data after the reload", c);
	}
	r.stop = 1;
	pthread_join(r.thread, NULL);
	EXPECT_LT(0, r.bytes);
}

TEST_F(rng, rmmod_insmod_sample_with_reader)
{
	reload(_metadata, self, DRIVER);
}

TEST_F(rng, rmmod_insmod_transport_with_reader)
{
	reload(_metadata, self, vs_env_str("VS_MODULE", "virtio_suspend"));
}

TEST_HARNESS_MAIN
