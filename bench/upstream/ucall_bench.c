// SPDX-License-Identifier: GPL-2.0-only
/*
 * ucall_bench: the peer of kvmtest's bench rows, written on the kernel's own
 * KVM selftest library (tools/testing/selftests/kvm/lib), which xtask
 * compiles from a Linux source tree next to this file (bench/upstream/).
 *
 *   ucall_bench CREATES BATCHES BATCH
 *
 * CREATES cold starts, each timed at two points: after
 * vm_create_with_one_vcpu() (VM, memslot 0, this ELF loaded, ucall, irqchip
 * and descriptor tables on x86, one vCPU with its stack and registers), and
 * after the first vcpu_run + get_ucall, checked to be SYNC(1): the guest's
 * first ucall. Each VM is freed, untimed. Then runs one vCPU looping
 * GUEST_SYNC(1): one untimed warm-up batch, then BATCHES batches of BATCH
 * round trips (vcpu_run + get_ucall, each checked). Prints one line per
 * sample, which the bench parses:
 *
 *   create_us <microseconds for one vm_create_with_one_vcpu>
 *   first_us <microseconds from before that call to the first ucall>
 *   ucall_us <microseconds per round trip, mean over one batch>
 *   done <round trips made>
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kvm_util.h"
#include "test_util.h"
#include "ucall_common.h"

#define STAGE 1

static void guest_code(void)
{
	for (;;)
		GUEST_SYNC(STAGE);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* BATCH round trips, each checked to be SYNC(STAGE) ("hello", STAGE). */
static void sync_batch(struct kvm_vcpu *vcpu, long batch)
{
	struct ucall uc;
	long i;

	for (i = 0; i < batch; i++) {
		vcpu_run(vcpu);
		TEST_ASSERT(get_ucall(vcpu, &uc) == UCALL_SYNC && uc.args[1] == STAGE,
			    "round trip %ld: ucall %lu, stage %lu, expected SYNC(%d)",
			    i, uc.cmd, uc.args[1], STAGE);
	}
}

static long number(const char *arg)
{
	char *end;
	long n = strtol(arg, &end, 10);

	TEST_ASSERT(*arg && !*end && n > 0, "not a positive number: %s", arg);
	return n;
}

int main(int argc, char *argv[])
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	long creates, batches, batch, i;
	double t, created;

	TEST_ASSERT(argc == 4, "usage: %s CREATES BATCHES BATCH", argv[0]);
	creates = number(argv[1]);
	batches = number(argv[2]);
	batch = number(argv[3]);

	for (i = 0; i < creates; i++) {
		t = now_us();
		vm = vm_create_with_one_vcpu(&vcpu, guest_code);
		created = now_us();
		sync_batch(vcpu, 1);
		printf("create_us %.3f\nfirst_us %.3f\n", created - t, now_us() - t);
		kvm_vm_free(vm);
	}

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	sync_batch(vcpu, batch);
	for (i = 0; i < batches; i++) {
		t = now_us();
		sync_batch(vcpu, batch);
		printf("ucall_us %.3f\n", (now_us() - t) / batch);
	}
	kvm_vm_free(vm);
	printf("done %ld\n", batches * batch);
	return 0;
}
