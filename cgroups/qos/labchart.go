package qos

import (
	"fmt"
	"path/filepath"
	"strings"
)

// ChartFormat is the image format of a chart file, by its extension: "png"
// or "svg". The lab checks it before it runs, so that a bad name costs
// nothing.
func ChartFormat(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png", ".svg":
		return ext[1:], nil
	case "":
		return "", fmt.Errorf("--chart %s: no file extension; the name must end in .png or .svg", path)
	default:
		return "", fmt.Errorf("--chart %s: %s is not a chart format; the name must end in .png or .svg", path, ext)
	}
}
