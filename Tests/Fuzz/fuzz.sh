#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine with SharpFuzz and AFL++ (docs/fuzzing.md).
#
#   Tests/Fuzz/fuzz.sh TARGET SECONDS    fuzz one target for SECONDS, then print afl's statistics
#                                        (TARGET: translate | invalidate | queue | ownership)
#   Tests/Fuzz/fuzz.sh --smoke [SECONDS] run every target for about SECONDS in total (default 20); fail on any crash
#
# Exit status: 0 clean, 1 afl saved a crash (an engine crash or an oracle failure), 2 the toolchain could not run.
#
# Installs what it needs on a fresh machine (afl++ from Debian, the SharpFuzz.CommandLine local tool), publishes
# Tests/Fuzz to fuzz-out/bin, instruments VtdEngine.dll, VtdEngine.Tables.dll and VtdEngine.Iotlb.dll there, and
# runs afl-fuzz from the committed seeds in Tests/Fuzz/corpus/TARGET. Findings go to fuzz-out/findings/TARGET
# (fuzz-out/smoke/TARGET for --smoke; git-ignored). Set FUZZ_RESUME=1 to continue an earlier run of the same
# target instead of starting afresh.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${FUZZ_OUT:-$root/fuzz-out}
bin=$out/bin
targets=(translate invalidate queue ownership)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

usage() {
    echo "usage: $0 {${targets[*]// /|}} SECONDS | --smoke [SECONDS]" >&2
    exit 2
}

ensure_tools() {
    if ! command -v afl-fuzz >/dev/null 2>&1; then
        echo "== installing afl++"
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo=sudo
        $sudo apt-get update -qq || return 2
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends afl++ >/dev/null || return 2
    fi
    dotnet tool restore >/dev/null || return 2
}

build() {
    echo "== publishing and instrumenting into $bin"
    rm -rf "$bin"
    dotnet publish Tests/Fuzz/Fuzz.csproj -c Release -o "$bin" --nologo -v quiet || return 2
    for dll in VtdEngine.dll VtdEngine.Tables.dll VtdEngine.Iotlb.dll; do
        dotnet sharpfuzz "$bin/$dll" >/dev/null || return 2
    done
}

stat() { sed -n "s/^$1 *: *//p" "$2"; }

# fuzz TARGET SECONDS: one afl-fuzz run; prints the statistics; returns 1 when it saved crashes.
fuzz() {
    local target=$1 seconds=$2
    local corpus=Tests/Fuzz/corpus/$target findings=$out/${findings_dir:-findings}/$target input
    [ -d "$corpus" ] || { echo "no seed corpus $corpus" >&2; return 2; }
    input=$corpus
    if [ "${FUZZ_RESUME:-0}" = 1 ] && [ -d "$findings/default" ]; then
        input=-
    else
        rm -rf "$findings"
    fi
    mkdir -p "$findings"
    echo "== afl-fuzz $target for ${seconds}s (findings: $findings)"
    # We run as root in a VM without a tuned CPU governor or core_pattern, beside other jobs on 2 cores: skip the
    # checks and the CPU binding. dotnet itself is not instrumented (the engine assemblies are), so skip the binary
    # check too. -t: the walk is bounded, so an input that takes 3 s is a hang.
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1 \
        timeout --signal=INT $((seconds + 120)) \
        afl-fuzz -i "$input" -o "$findings" -t 3000 -m none -V "$seconds" -- dotnet "$bin/VtdEngine.Fuzz.dll" "$target" \
        >"$findings/afl.log" 2>&1 || { echo "afl-fuzz failed; tail of $findings/afl.log:" >&2; tail -20 "$findings/afl.log" >&2; return 2; }
    local stats=$findings/default/fuzzer_stats
    [ -f "$stats" ] || { echo "no fuzzer_stats; tail of $findings/afl.log:" >&2; tail -20 "$findings/afl.log" >&2; return 2; }
    local crashes hangs
    crashes=$(stat saved_crashes "$stats")
    hangs=$(stat saved_hangs "$stats")
    printf '%s: run_time=%ss execs_done=%s execs_per_sec=%s corpus_count=%s bitmap_cvg=%s saved_crashes=%s saved_hangs=%s\n' \
        "$target" "$(stat run_time "$stats")" "$(stat execs_done "$stats")" "$(stat execs_per_sec "$stats")" \
        "$(stat corpus_count "$stats")" "$(stat bitmap_cvg "$stats")" "$crashes" "$hangs"
    if [ "${crashes:-0}" != 0 ]; then
        echo "crashes saved; replay them with:" >&2
        echo "  dotnet $bin/VtdEngine.Fuzz.dll --replay $target $findings/default/crashes/id*" >&2
        return 1
    fi
}

[ $# -ge 1 ] || usage
case "$1" in
    --smoke)
        total=${2:-20}
        # Smoke runs keep their findings apart, so they never replace a long run's.
        findings_dir=smoke
        ensure_tools || exit 2
        build || exit 2
        each=$(( (total + ${#targets[@]} - 1) / ${#targets[@]} ))
        status=0
        for target in "${targets[@]}"; do
            rc=0
            fuzz "$target" "$each" || rc=$?
            # 1 (a saved crash) wins over 2 (afl itself could not run).
            if [ "$rc" -eq 1 ] || { [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; }; then
                status=$rc
            fi
        done
        exit $status
        ;;
    *)
        [ $# -eq 2 ] || usage
        [[ " ${targets[*]} " == *" $1 "* ]] || usage
        [[ "$2" =~ ^[0-9]+$ ]] || usage
        ensure_tools || exit 2
        build || exit 2
        fuzz "$1" "$2"
        ;;
esac
