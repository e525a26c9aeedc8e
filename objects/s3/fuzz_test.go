package s3_test

import (
	"testing"

	"github.com/idv-dev/idv/objects/objectstest"
	"github.com/idv-dev/idv/objects/s3"
)

// FuzzKeyFromURL checks the S3 store's URL validation in both addressing
// styles (no server is needed: validation never makes a request). Seeds are
// in testdata/fuzz/FuzzKeyFromURL; run longer with
// go test -run '^$' -fuzz FuzzKeyFromURL ./objects/s3/
func FuzzKeyFromURL(f *testing.F) {
	var stores []*s3.Store
	for _, cfg := range []s3.Config{
		{Bucket: "idv", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true},
		{Bucket: "idv", Region: "us-east-1", Endpoint: "https://s3.example.gov"},
		{Bucket: "idv-images", Region: "us-west-2"},
	} {
		cfg.AccessKeyID, cfg.SecretAccessKey = "AKIDEXAMPLE", "secret"
		st, err := s3.New(f.Context(), cfg)
		if err != nil {
			f.Fatal(err)
		}
		stores = append(stores, st)
	}
	f.Add("http://127.0.0.1:7070/idv/document-capture/AAAAAAAAAAAAAAAAAAAAAA/front?X-Amz-Signature=00")
	f.Add("https://idv.s3.example.gov/document-capture/AAAAAAAAAAAAAAAAAAAAAA/back")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, st := range stores {
			objectstest.CheckKeyFromURL(t, st, raw)
		}
	})
}
