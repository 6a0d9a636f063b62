// gotlog: an audit of a live ckvd's transparency log with Go's own
// transparency-log code (golang.org/x/mod/sumdb/tlog and .../note, the
// Go checksum database's implementation that C2SP tlog-tiles and
// signed-note grew out of), not ckv's. It is the project's check that its
// log speaks the standard to an implementation written by others: ckv's
// C code (transparency-log/) takes no part in it.
//
//	usage: gotlog --vkey VKEY [--state FILE] URL
//
// It fetches URL/checkpoint and opens it with the verifier key (C2SP
// signed-note, Ed25519); reads the hash tiles (URL/tile/L/N[.p/W]) through
// tlog.TileHashReader, which checks every tile against the checkpoint's
// root; recomputes the root from them; reads every entry bundle
// (URL/tile/entries/N[.p/W]: big-endian uint16 length, then the entry)
// and checks each entry's record hash against the tree's leaf; and, with
// --state, proves the new tree consistent with the one accepted before
// (tlog.ProveTree / tlog.CheckTree) and then records the new one. Exit 0:
// all of it holds; 1: something does not (a sentence says what); 2: usage.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8 // C2SP tlog-tiles: tiles of 256 hashes

var client = &http.Client{Timeout: 30 * time.Second}

func get(url string, max int64) ([]byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("GET %s: answer longer than %d bytes", url, max)
	}
	return b, nil
}

// c2spPath maps x/mod's tile path (tile/H/L/N[.p/W], data tiles as
// L = "data") to C2SP's (tile/L/N[.p/W], entry bundles as tile/entries/N).
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if strings.HasPrefix(p, "data/") {
		p = "entries/" + strings.TrimPrefix(p, "data/")
	}
	return "tile/" + p
}

type httpTiles struct{ base string }

func (h httpTiles) Height() int { return height }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := get(h.base+"/"+c2spPath(t), 1<<20)
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", c2spPath(t), len(b), t.W*tlog.HashSize)
		}
		out[i] = b
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "gotlog: "+format+"\n", a...)
	os.Exit(1)
}

// parseCheckpoint: C2SP tlog-checkpoint body: origin, size, base64 root,
// then optional extension lines.
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		fail("the checkpoint body is not origin, size and root lines: %q", text)
	}
	origin = lines[0]
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		fail("the checkpoint size %q is not a decimal number", lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		fail("the checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	copy(root[:], h)
	return origin, n, root
}

func main() {
	vkey := flag.String("vkey", "", "the log's verifier key (C2SP vkey)")
	state := flag.String("state", "", "file with the tree accepted before (size and root)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gotlog --vkey VKEY [--state FILE] URL")
	}
	flag.Parse()
	if *vkey == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	base := strings.TrimSuffix(flag.Arg(0), "/")
	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gotlog: bad verifier key: %v\n", err)
		os.Exit(2)
	}

	raw, err := get(base+"/checkpoint", 1<<16)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		fail("the checkpoint does not open with the log's key: %v", err)
	}
	origin, size, root := parseCheckpoint(n.Text)
	tree := tlog.Tree{N: size, Hash: root}

	// every tile checked against the root as it is read
	r := tlog.TileHashReader(tree, httpTiles{base})
	th, err := tlog.TreeHash(size, r)
	if err != nil {
		fail("the tiles do not prove the checkpoint: %v", err)
	}
	if th != root {
		fail("the tiles give root %v, the checkpoint says %v", th, root)
	}

	// every entry: its record hash is the tree's leaf
	for start := int64(0); start < size; start += 1 << height {
		w := size - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		b, err := get(base+"/"+c2spPath(t), 1<<24)
		if err != nil {
			fail("%v", err)
		}
		idx := make([]int64, w)
		for j := range idx {
			idx[j] = tlog.StoredHashIndex(0, start+int64(j))
		}
		leaves, err := r.ReadHashes(idx)
		if err != nil {
			fail("leaf hashes %d..%d: %v", start, start+w-1, err)
		}
		rd := bytes.NewReader(b)
		for j := int64(0); j < w; j++ {
			var l uint16
			if err := binary.Read(rd, binary.BigEndian, &l); err != nil {
				fail("%s: entry %d is missing", c2spPath(t), start+j)
			}
			e := make([]byte, l)
			if _, err := io.ReadFull(rd, e); err != nil {
				fail("%s: entry %d is cut short", c2spPath(t), start+j)
			}
			if tlog.RecordHash(e) != leaves[j] {
				fail("entry %d does not hash to the tree's leaf %d", start+j, start+j)
			}
		}
		if rd.Len() != 0 {
			fail("%s: %d bytes after entry %d", c2spPath(t), rd.Len(), start+w-1)
		}
	}

	msg := fmt.Sprintf("%s: size %d root %v: checkpoint signed, tiles and %d entries verified",
		origin, size, root, size)
	if *state != "" {
		if old, err := os.ReadFile(*state); err == nil {
			f := strings.Fields(string(old))
			if len(f) != 2 {
				fail("the state file %s is damaged", *state)
			}
			m, err1 := strconv.ParseInt(f[0], 10, 64)
			oh, err2 := tlog.ParseHash(f[1])
			if err1 != nil || err2 != nil {
				fail("the state file %s is damaged", *state)
			}
			if m > size {
				fail("the log went back: size %d after %d", size, m)
			}
			p, err := tlog.ProveTree(size, m, r)
			if err != nil {
				fail("cannot prove size %d from %d: %v", size, m, err)
			}
			if err := tlog.CheckTree(p, size, root, m, oh); err != nil {
				fail("size %d is not consistent with size %d accepted before: %v", size, m, err)
			}
			msg += fmt.Sprintf(", consistent with size %d accepted before", m)
		}
		if err := os.WriteFile(*state, []byte(fmt.Sprintf("%d %v\n", size, root)), 0o600); err != nil {
			fail("cannot write %s: %v", *state, err)
		}
	}
	fmt.Println(msg)
}
