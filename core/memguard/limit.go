package memguard

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// Limit sources, as Resolve reports them.
const (
	SourceEnv    = "GOMEMLIMIT"        // the environment variable, applied by the runtime
	SourceConfig = "memory.soft_limit" // the configured size
	SourceCgroup = "cgroup"            // soft_limit_ratio of the cgroup's memory limit
	SourceHost   = "host"              // soft_limit_ratio of the machine's memory
	SourceNone   = "none"              // no limit: no shedding
)

// ResolveGC decides the collector's target the guard sets (Options.GCPercent): 0 when
// GOGC is set (the runtime applied it) or configured is 0 (the runtime's default), else
// configured. It returns what the runtime will use, for the log: GOGC's value, or the
// percentage.
func ResolveGC(configured int, getenv func(string) string) (apply int, effective string) {
	if v := getenv("GOGC"); v != "" {
		return 0, v
	}
	if configured <= 0 {
		return 0, "100"
	}
	return configured, strconv.Itoa(configured)
}

// Resolve decides the soft memory limit: GOMEMLIMIT when set (the runtime applied it
// already; memory.soft_limit is then ignored), else softLimit when positive, else
// ratio of the container's memory limit (cgroup v2 memory.max or v1
// memory.limit_in_bytes) or, without one, of the machine's memory (MemTotal), else none.
// apply says whether the guard must set it (false for GOMEMLIMIT and none).
func Resolve(softLimit int64, ratio float64, getenv func(string) string) (limit int64, source string, apply bool) {
	if getenv("GOMEMLIMIT") != "" {
		if l := debug.SetMemoryLimit(-1); l > 0 && l < math.MaxInt64 {
			return l, SourceEnv, false
		}
		return 0, SourceNone, false
	}
	if softLimit > 0 {
		return softLimit, SourceConfig, true
	}
	if ratio <= 0 {
		return 0, SourceNone, false
	}
	if c := cgroupLimit(); c > 0 {
		return int64(float64(c) * ratio), SourceCgroup, true
	}
	if h := hostMemory(); h > 0 {
		return int64(float64(h) * ratio), SourceHost, true
	}
	return 0, SourceNone, false
}

// cgroupLimit returns this process's cgroup memory limit in bytes, 0 when there is none
// or it cannot be read (not Linux, no cgroup file system).
func cgroupLimit() uint64 {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	return cgroupLimitFrom(b, "/sys/fs/cgroup", os.ReadFile)
}

// cgroupLimitFrom reads the limit of the cgroups listed in procCgroup (the text of
// /proc/self/cgroup) below root. In a container the process's own path often does not
// exist (the cgroup namespace shows it as root), so the root's file is read then.
func cgroupLimitFrom(procCgroup []byte, root string, read func(string) ([]byte, error)) uint64 {
	hostMem := hostMemory()
	limit := func(files ...string) uint64 {
		for _, f := range files {
			b, err := read(f)
			if err != nil {
				continue
			}
			s := strings.TrimSpace(string(b))
			if s == "max" {
				return 0
			}
			n, err := strconv.ParseUint(s, 10, 64)
			// v1 reports "no limit" as a huge page-aligned number.
			if err != nil || n >= 1<<62 || (hostMem > 0 && n >= hostMem) {
				return 0
			}
			return n
		}
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		// hierarchy-id:controllers:path
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) != 3 {
			continue
		}
		switch {
		case fields[0] == "0" && fields[1] == "": // v2 (on a v1 host its file is absent)
			if n := limit(filepath.Join(root, fields[2], "memory.max"), filepath.Join(root, "memory.max")); n > 0 {
				return n
			}
		case hasController(fields[1], "memory"): // v1
			if n := limit(filepath.Join(root, "memory", fields[2], "memory.limit_in_bytes"),
				filepath.Join(root, "memory", "memory.limit_in_bytes")); n > 0 {
				return n
			}
		}
	}
	return 0
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// hostMemory returns MemTotal from /proc/meminfo in bytes, 0 when unknown.
func hostMemory() uint64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if kb, err := strconv.ParseUint(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}
