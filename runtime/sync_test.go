package runtime

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestCgroupsLineRoundTrip(t *testing.T) {
	for _, tasks := range [][]string{
		nil,
		{"/sys/fs/cgroup/cpu/miniruntime-web/tasks"},
		{"/sys/fs/cgroup/memory/a b/tasks", `/sys/fs/cgroup/pids/q"uote\/tasks`, "/sys/fs/cgroup/x/new\nline/tasks"},
	} {
		var buf bytes.Buffer
		if err := writeCgroupsLine(&buf, tasks); err != nil {
			t.Fatal(err)
		}
		buf.WriteString(`{"id":"next message"}`)
		br := bufio.NewReader(&buf)
		got, err := readCgroupsLine(br)
		if err != nil || !slices.Equal(got, tasks) {
			t.Fatalf("round trip of %q: %q, %v", tasks, got, err)
		}
		if rest, _ := br.ReadString(0); rest != `{"id":"next message"}` {
			t.Fatalf("the line ate into the next message: %q", rest)
		}
	}
	if _, err := readCgroupsLine(bufio.NewReader(strings.NewReader("{\"id\":1}\n"))); err == nil {
		t.Fatal("a line that is not a cgroups line was accepted")
	}
}
