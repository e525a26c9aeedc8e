package seal_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/idv-dev/idv"
	"github.com/idv-dev/idv/seal"
)

// benchSizes are job arguments and results (a few hundred bytes) and a
// larger session blob.
var benchSizes = []int{256, 4096}

func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	aad := idv.JobAAD(idv.JobResolution, "bench-result-id")
	for _, size := range benchSizes {
		plain := bytes.Repeat([]byte{'a'}, size)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			e := newEnvelope(b, ringK1(b), seal.Options{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Seal(ctx, plain, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dB-parallel", size), func(b *testing.B) {
			e := newEnvelope(b, ringK1(b), seal.Options{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Seal(ctx, plain, aad); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpen opens in a second envelope (a worker opening what the web
// tier sealed): the first Open unwraps, the rest hit the cache.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	aad := idv.JobAAD(idv.JobResolution, "bench-result-id")
	for _, size := range benchSizes {
		ring := ringK1(b)
		sealed := mustSeal(b, newEnvelope(b, ring, seal.Options{}), bytes.Repeat([]byte{'a'}, size), aad)
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			e := newEnvelope(b, ring, seal.Options{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Open(ctx, sealed, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dB-parallel", size), func(b *testing.B) {
			e := newEnvelope(b, ring, seal.Options{})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.Open(ctx, sealed, aad); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	// The cost of a cache miss with the local ring: what every Open would
	// cost without the cache (with KMS, add a network round trip).
	b.Run("256B-uncached", func(b *testing.B) {
		ring := ringK1(b)
		sealed := mustSeal(b, newEnvelope(b, ring, seal.Options{}), bytes.Repeat([]byte{'a'}, 256), aad)
		b.ReportAllocs()
		for b.Loop() {
			e := newEnvelope(b, ring, seal.Options{OpenCacheSize: 1})
			if _, err := e.Open(ctx, sealed, aad); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpenImage decrypts a 2 MB browser-encrypted image (B4's image
// path); bytes/s is the decrypt rate.
func BenchmarkOpenImage(b *testing.B) {
	key := bytes.Repeat([]byte{1}, seal.ImageKeySize)
	iv := bytes.Repeat([]byte{2}, seal.ImageIVSize)
	const size = 2 << 20
	ct, err := seal.SealImage(key, iv, bytes.Repeat([]byte{3}, size))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := seal.OpenImage(key, iv, ct); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenImageHPKE opens a 2 MB image sealed to the workers' HPKE
// key (doc_auth.image_encryption: hpke): header parse, decapsulation, key
// schedule and AES-256-GCM; bytes/s is comparable to BenchmarkOpenImage.
func BenchmarkOpenImageHPKE(b *testing.B) {
	priv, err := seal.ImageKEM().GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	const size = 2 << 20
	info := seal.ImageInfo("bench", "front")
	obj, err := seal.SealImageHPKE(priv.PublicKey(), "bench", info, bytes.Repeat([]byte{3}, size))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		h, err := seal.ParseImageHeader(obj)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := seal.OpenImageHPKE(priv, h, obj, info); err != nil {
			b.Fatal(err)
		}
	}
}
