/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-probe: prints what host_probe() finds as key=value lines, for people, scripts and the device tier. */
#include <getopt.h>
#include <inttypes.h>

#include "config.h"
#include "probe.h"

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Probes whether this host can run arm64 guests with KVM and prints key=value lines.\n\n"
               "  -h --help            Show this help\n"
               "     --version         Show the version\n"
               "     --kvm=PATH        Probe PATH instead of /dev/kvm\n"
               "  -q --quiet           Print nothing; only the exit status tells\n"
               "     --require-kvm     Exit with status 2 when KVM is not usable\n",
               program_invocation_short_name);
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_KVM, ARG_REQUIRE_KVM };
        static const struct option options[] = { { "help", no_argument, NULL, 'h' },
                                                 { "version", no_argument, NULL, ARG_VERSION },
                                                 { "kvm", required_argument, NULL, ARG_KVM },
                                                 { "quiet", no_argument, NULL, 'q' },
                                                 { "require-kvm", no_argument, NULL, ARG_REQUIRE_KVM },
                                                 {} };
        const char *kvm_path = "/dev/kvm";
        bool quiet = false, require_kvm = false;
        HostInfo h;
        int c, r;

        while ((c = getopt_long(argc, argv, "hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        puts(VERSION);
                        return 0;
                case ARG_KVM:
                        kvm_path = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case ARG_REQUIRE_KVM:
                        require_kvm = true;
                        break;
                default:
                        return 1;
                }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", program_invocation_short_name, argv[optind]);
                return 1;
        }

        r = host_probe(kvm_path, &h);
        if (r < 0) {
                fprintf(stderr,
                        "%s: failed to probe the host: %s\n",
                        program_invocation_short_name,
                        strerror(-r));
                return 1;
        }

        if (!quiet) {
                printf("arch=%s\n", h.arch);
                printf("cpus=%u\n", h.cpus);
                printf("memory_mib=%" PRIu64 "\n", h.memory_mib);
                printf("kvm_path=%s\n", kvm_path);
                printf("kvm_usable=%s\n", h.kvm_usable ? "yes" : "no");
                printf("reason=%s\n", h.reason);
                printf("api_version=%i\n", h.api_version);
                printf("mode=%s\n", kvm_mode_to_string(h.mode));
                printf("mode_source=%s\n", strempty(h.mode_source));
                printf("ipa_bits=%u\n", h.ipa_bits);
                printf("gic_version=%u\n", h.gic_version);
                printf("max_vcpus=%u\n", h.max_vcpus);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                        fprintf(stderr, "%s: failed to write output: %m\n", program_invocation_short_name);
                        return 1;
                }
        }

        return require_kvm && !h.kvm_usable ? 2 : 0;
}
