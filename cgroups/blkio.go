package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fBlkio = "linux.resources.blockIO"

func checkWeight(field string, w *uint16) error {
	if w != nil && (*w < 10 || *w > 1000) {
		return invalidf(field, "%d is outside 10..1000", *w)
	}
	return nil
}

func checkDev(field string, d specs.LinuxBlockIODevice) error {
	if d.Major < 0 || d.Minor < 0 {
		return invalidf(field, "device %d:%d: major and minor must not be negative", d.Major, d.Minor)
	}
	return nil
}

func validateBlockIO(b *specs.LinuxBlockIO) error {
	if b == nil {
		return nil
	}
	if err := checkWeight(fBlkio+".weight", b.Weight); err != nil {
		return err
	}
	if err := checkWeight(fBlkio+".leafWeight", b.LeafWeight); err != nil {
		return err
	}
	for i, wd := range b.WeightDevice {
		f := fmt.Sprintf("%s.weightDevice[%d]", fBlkio, i)
		if err := checkDev(f, wd.LinuxBlockIODevice); err != nil {
			return err
		}
		if wd.Weight == nil && wd.LeafWeight == nil {
			return invalidf(f, "sets neither weight nor leafWeight")
		}
		if err := checkWeight(f+".weight", wd.Weight); err != nil {
			return err
		}
		if err := checkWeight(f+".leafWeight", wd.LeafWeight); err != nil {
			return err
		}
	}
	for _, t := range throttles(b) {
		for i, d := range t.devs {
			if err := checkDev(fmt.Sprintf("%s.%s[%d]", fBlkio, t.field, i), d.LinuxBlockIODevice); err != nil {
				return err
			}
		}
	}
	return nil
}

type throttle struct {
	field, v1file, v2key string
	devs                 []specs.LinuxThrottleDevice
}

func throttles(b *specs.LinuxBlockIO) []throttle {
	return []throttle{
		{"throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
}

func devString(d specs.LinuxBlockIODevice) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// blkioV1 renders the v1 blkio files. The weight files belong to the CFQ
// scheduler, which Linux 5.0 removed; BFQ has its own (blkio.bfq.weight)
// with the same range, used when the CFQ file is missing, as runc does.
// Leaf weights were CFQ-only: on a kernel without them the write is refused.
// A throttle rate of 0 removes the device's limit.
func blkioV1(b *specs.LinuxBlockIO) []Setting {
	if b == nil {
		return nil
	}
	var out []Setting
	add := func(field, file, value string, alt string) {
		s := Setting{Field: fBlkio + "." + field, Controller: "blkio", File: file, Value: value}
		if alt != "" {
			s.Alt = &Setting{Field: s.Field, Controller: "blkio", File: alt, Value: value}
		}
		out = append(out, s)
	}
	if b.Weight != nil {
		add("weight", "blkio.weight", utoa(uint64(*b.Weight)), "blkio.bfq.weight")
	}
	if b.LeafWeight != nil {
		add("leafWeight", "blkio.leaf_weight", utoa(uint64(*b.LeafWeight)), "")
	}
	for i, wd := range b.WeightDevice {
		f := fmt.Sprintf("weightDevice[%d]", i)
		if wd.Weight != nil {
			add(f+".weight", "blkio.weight_device", devString(wd.LinuxBlockIODevice)+" "+utoa(uint64(*wd.Weight)), "blkio.bfq.weight_device")
		}
		if wd.LeafWeight != nil {
			add(f+".leafWeight", "blkio.leaf_weight_device", devString(wd.LinuxBlockIODevice)+" "+utoa(uint64(*wd.LeafWeight)), "")
		}
	}
	for _, t := range throttles(b) {
		for i, d := range t.devs {
			add(fmt.Sprintf("%s[%d]", t.field, i), t.v1file, devString(d.LinuxBlockIODevice)+" "+utoa(d.Rate), "")
		}
	}
	return out
}

// ioV2 renders the v2 io files. A weight goes to io.bfq.weight unconverted
// when BFQ is there (runc's choice), else to io.weight converted to its
// 1..10000 range. Throttles become io.max lines ("8:0 rbps=1048576"); a
// rate of 0, which removes the limit on v1, becomes "max". Leaf weights have
// no v2 counterpart.
func ioV2(b *specs.LinuxBlockIO) ([]Setting, error) {
	if b == nil {
		return nil, nil
	}
	if b.LeafWeight != nil {
		return nil, unsupportedf(fBlkio+".leafWeight", "cgroup v2 has no leaf weights (they belonged to the CFQ scheduler)")
	}
	var out []Setting
	weight := func(field, prefix string, w uint16) {
		out = append(out, Setting{
			Field: field, Controller: "io", File: "io.bfq.weight", Value: prefix + utoa(uint64(w)),
			Alt: &Setting{Field: field, Controller: "io", File: "io.weight", Value: prefix + utoa(BlkioWeightToIOWeight(w))},
		})
	}
	if b.Weight != nil {
		weight(fBlkio+".weight", "", *b.Weight)
	}
	for i, wd := range b.WeightDevice {
		f := fmt.Sprintf("%s.weightDevice[%d]", fBlkio, i)
		if wd.LeafWeight != nil {
			return nil, unsupportedf(f+".leafWeight", "cgroup v2 has no leaf weights (they belonged to the CFQ scheduler)")
		}
		weight(f+".weight", devString(wd.LinuxBlockIODevice)+" ", *wd.Weight)
	}
	for _, t := range throttles(b) {
		for i, d := range t.devs {
			rate := "max"
			if d.Rate > 0 {
				rate = utoa(d.Rate)
			}
			out = append(out, Setting{
				Field: fmt.Sprintf("%s.%s[%d]", fBlkio, t.field, i), Controller: "io", File: "io.max",
				Value: devString(d.LinuxBlockIODevice) + " " + t.v2key + "=" + rate,
			})
		}
	}
	return out, nil
}
