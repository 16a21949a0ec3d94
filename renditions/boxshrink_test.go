package renditions

import (
	"math/rand/v2"
	"testing"
)

// TestRowBoxMeans: a rowBox gives the rounded mean of each block of rows and columns,
// the last (narrower) block included, for one and four channels, and starts anew after take.
func TestRowBoxMeans(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []int{1, 3, 4} {
		for _, tc := range []struct{ size, k, out, rows int }{
			{size: 100, k: 7, out: 5, rows: 7}, // 100 = 14·7 + 2: a narrow last block
			{size: 96, k: 8, out: 4, rows: 3},  // whole blocks, fewer rows (the image's last block)
			{size: 6000, k: 1, out: 5000, rows: 1},
		} {
			x := axis{k: tc.k, size: tc.size, ws: lanczosWeights(0, float64(tc.size)/float64(tc.k)/float64(tc.out), tc.out, (tc.size+tc.k-1)/tc.k)}
			lo, hi := x.src()
			b := newRowBox(x, c)
			for round := range 2 {
				rows := make([][]uint8, tc.rows)
				for r := range rows {
					rows[r] = make([]uint8, (hi-lo)*c)
					for i := range rows[r] {
						rows[r][i] = uint8(rng.IntN(256))
					}
					b.add(rows[r])
				}
				got := make([]uint8, (x.ws.hi-x.ws.lo)*c)
				b.take(got)
				for blk := x.ws.lo; blk < x.ws.hi; blk++ {
					for ch := range c {
						var sum, n int
						for _, row := range rows {
							for p := blk * tc.k; p < min((blk+1)*tc.k, tc.size); p++ {
								sum += int(row[(p-lo)*c+ch])
								n++
							}
						}
						if want := uint8((sum + n/2) / n); got[(blk-x.ws.lo)*c+ch] != want {
							t.Fatalf("c=%d size=%d k=%d round %d: block %d channel %d = %d, want %d", c, tc.size, tc.k, round, blk, ch, got[(blk-x.ws.lo)*c+ch], want)
						}
					}
				}
			}
		}
	}
}

// TestBoxFactor: libvips's rule, the largest box that leaves the Lanczos3 at least 2×.
func TestBoxFactor(t *testing.T) {
	for _, c := range []struct {
		scale float64
		want  int
	}{{0.5, 1}, {1, 1}, {3.99, 1}, {4, 2}, {15, 7}, {28.2, 14}} {
		if got := boxFactor(c.scale); got != c.want {
			t.Errorf("boxFactor(%v) = %d, want %d", c.scale, got, c.want)
		}
		if k := boxFactor(c.scale); c.scale >= 2 && c.scale/float64(k) < 2 {
			t.Errorf("boxFactor(%v) leaves %.2f×", c.scale, c.scale/float64(k))
		}
	}
}
