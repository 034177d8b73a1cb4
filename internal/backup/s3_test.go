package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bulwark-shop/bulwark/internal/backup"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// A secret that must never appear in a name or an error.
const testSecret = "s3-target-test-secret-do-not-print"

func setCredentials(t *testing.T, id, secret string) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
}

func TestParseS3Target(t *testing.T) {
	setCredentials(t, "AKIDEXAMPLE", testSecret)

	accepted := []struct {
		name, raw, want string
		retention       time.Duration
	}{
		{"loopback endpoint over plain HTTP", "s3://bucket/prefix?endpoint=127.0.0.1:9000&insecure=1",
			"s3://bucket/prefix?endpoint=127.0.0.1:9000", backup.DefaultRetention},
		{"IPv6 loopback over plain HTTP", "s3://bucket/p?endpoint=[::1]:9000&insecure=1",
			"s3://bucket/p?endpoint=[::1]:9000", backup.DefaultRetention},
		{"every parameter", "s3://bucket?endpoint=s3.example.com:8443&region=eu-west-1&lock=governance&retention=48h",
			"s3://bucket?endpoint=s3.example.com:8443", 48 * time.Hour},
		{"AWS when no endpoint, slashes trimmed", "s3://bucket/a/b/?lock=compliance",
			"s3://bucket/a/b?endpoint=s3.amazonaws.com", backup.DefaultRetention},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			target, err := backup.ParseTarget(c.raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := target.Name(); got != c.want {
				t.Errorf("Name() = %q, want %q", got, c.want)
			}
			if !target.Offsite() {
				t.Error("an object store is offsite")
			}
			if got := target.Retention(); got != c.retention {
				t.Errorf("Retention() = %v, want %v", got, c.retention)
			}
		})
	}

	refused := []struct{ name, raw, want string }{
		{"insecure on a non-loopback endpoint", "s3://bucket/p?endpoint=s3.example.com&insecure=1", "loopback IP"},
		{"insecure on a loopback name", "s3://bucket/p?endpoint=localhost:9000&insecure=1", "loopback IP"},
		{"insecure other than 1", "s3://bucket/p?endpoint=127.0.0.1:9000&insecure=true", "insecure takes only 1"},
		{"unknown parameter", "s3://bucket/p?endpoint=127.0.0.1:9000&secret_key=" + testSecret, `unknown parameter "secret_key"`},
		{"parameter given twice", "s3://bucket/p?endpoint=a.example&endpoint=b.example", "more than once"},
		{"user info", "s3://AKIDEXAMPLE:" + testSecret + "@bucket/p", "credentials do not go in the URL"},
		{"endpoint with a scheme", "s3://bucket/p?endpoint=https://s3.example.com", "not host or host:port"},
		{"endpoint with a path", "s3://bucket/p?endpoint=s3.example.com/x", "not host or host:port"},
		{"no bucket", "s3:///p?endpoint=s3.example.com", "s3://bucket/prefix"},
		{"port on the bucket", "s3://bucket:9000/p", "endpoint=host:port"},
		{"bad bucket name", "s3://Bad_Bucket/p", "bucket name"},
		{"prefix that climbs", "s3://bucket/a/../b", "not a clean relative path"},
		{"unknown lock mode", "s3://bucket/p?lock=legal", "compliance (the default) or governance"},
		{"bad region", "s3://bucket/p?region=US%20East", "region"},
		{"bad retention", "s3://bucket/p?retention=forever", "retention"},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := backup.ParseTarget(c.raw, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}

	t.Run("absent credentials are refused", func(t *testing.T) {
		for _, creds := range [][2]string{{"", testSecret}, {"AKIDEXAMPLE", ""}} {
			setCredentials(t, creds[0], creds[1])
			_, err := backup.ParseTarget("s3://bucket/p?endpoint=127.0.0.1:9000&insecure=1", 0)
			if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
				t.Fatalf("error %v, want one naming the variables", err)
			}
		}
	})

	t.Run("the same store listed twice is refused", func(t *testing.T) {
		setCredentials(t, "AKIDEXAMPLE", testSecret)
		_, err := backup.ParseTargets("s3://bucket/p?endpoint=s3.example.com, s3://bucket/p/?endpoint=s3.example.com&retention=1h", 0)
		if err == nil || !strings.Contains(err.Error(), "listed twice") {
			t.Fatalf("error %v, want listed twice", err)
		}
	})
}

// s3Fixture is a versitygw server with three buckets: plain (no
// versioning), versioned, and locked (object lock, hence versioned).
type s3Fixture struct {
	srv   testenv.S3Server
	admin *minio.Client
}

func startS3(t *testing.T) s3Fixture {
	t.Helper()
	srv := testenv.StartVersityGW(t)
	admin, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range []struct {
		name string
		opts minio.MakeBucketOptions
	}{{"plain", minio.MakeBucketOptions{}}, {"versioned", minio.MakeBucketOptions{}}, {"locked", minio.MakeBucketOptions{ObjectLocking: true}}} {
		if err := admin.MakeBucket(ctx, b.name, b.opts); err != nil {
			t.Fatalf("make bucket %s: %v", b.name, err)
		}
	}
	if err := admin.EnableVersioning(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	setCredentials(t, srv.AccessKey, srv.SecretKey)
	return s3Fixture{srv, admin}
}

func (f s3Fixture) target(t *testing.T, bucketAndPrefix, params string) backup.Target {
	t.Helper()
	target, err := backup.ParseTarget("s3://"+bucketAndPrefix+"?endpoint="+f.srv.Endpoint+"&insecure=1"+params, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// retention reads an object's lock from the headers of a HEAD request, as
// AWS gives them. (minio-go's GetObjectRetention cannot read versitygw's
// answer, whose root element is ObjectLockRetention, not Retention.)
func (f s3Fixture) retention(t *testing.T, bucket, object string) (mode string, until time.Time) {
	t.Helper()
	u, err := f.admin.Presign(context.Background(), http.MethodHead, bucket, object, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Head(u.String())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s/%s: %s", bucket, object, res.Status)
	}
	until, err = time.Parse(time.RFC3339, res.Header.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	if err != nil {
		t.Fatalf("retain-until date: %v", err)
	}
	return res.Header.Get("X-Amz-Object-Lock-Mode"), until
}

func mustPut(t *testing.T, target backup.Target, key string, data []byte) {
	t.Helper()
	if err := target.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func mustGet(t *testing.T, target backup.Target, key string) []byte {
	t.Helper()
	r, err := target.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return data
}

func mustList(t *testing.T, target backup.Target, prefix string) []string {
	t.Helper()
	keys, err := target.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return keys
}

func TestS3TargetOnVersityGW(t *testing.T) {
	f := startS3(t)
	ctx := context.Background()

	t.Run("put, get, list and delete round trip under the prefix", func(t *testing.T) {
		target := f.target(t, "plain/backups/site", "")
		// More than one 16 MiB part, so the streamed multipart upload is used.
		big := bytes.Repeat([]byte("0123456789abcdef"), (17<<20)/16)
		mustPut(t, target, "b2/db.sqlite", big)
		mustPut(t, target, "b1/manifest.json", []byte(`{"id":"b1"}`))
		mustPut(t, target, "b2/manifest.json", []byte(`{"id":"b2"}`))

		if _, err := f.admin.StatObject(ctx, "plain", "backups/site/b1/manifest.json", minio.StatObjectOptions{}); err != nil {
			t.Fatalf("the object is not under the prefix: %v", err)
		}
		if got, want := mustList(t, target, ""), []string{"b1/manifest.json", "b2/db.sqlite", "b2/manifest.json"}; !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
		if got, want := mustList(t, target, "b2/"), []string{"b2/db.sqlite", "b2/manifest.json"}; !slices.Equal(got, want) {
			t.Fatalf("List(b2/) = %q, want %q", got, want)
		}
		if got := mustList(t, target, "b3/"); len(got) != 0 {
			t.Fatalf("List(b3/) = %q, want none", got)
		}
		if got := mustGet(t, target, "b2/db.sqlite"); !bytes.Equal(got, big) {
			t.Fatalf("got %d bytes back, want the %d put", len(got), len(big))
		}
		for _, key := range []string{"b1/manifest.json", "b2/db.sqlite", "b2/manifest.json"} {
			if err := target.Delete(ctx, key); err != nil {
				t.Fatalf("delete %s: %v", key, err)
			}
		}
		if got := mustList(t, target, ""); len(got) != 0 {
			t.Fatalf("List after delete = %q, want none", got)
		}
	})

	t.Run("put of an existing key is refused and leaves it as it was", func(t *testing.T) {
		target := f.target(t, "plain/once", "")
		mustPut(t, target, "b1/manifest.json", []byte("first"))
		err := target.Put(ctx, "b1/manifest.json", strings.NewReader("second"))
		if err == nil || !strings.Contains(err.Error(), "exists") {
			t.Fatalf("second put: %v, want exists", err)
		}
		if got := mustGet(t, target, "b1/manifest.json"); string(got) != "first" {
			t.Fatalf("got %q, want first", got)
		}
	})

	for _, size := range []int{4, 17 << 20} {
		t.Run(fmt.Sprintf("a key written during an upload of %d bytes is not overwritten", size), func(t *testing.T) {
			target := f.target(t, "plain/race", "")
			key := fmt.Sprintf("b%d/manifest.json", size)
			// The key does not exist when Put looks; another writer puts it
			// while Put reads its input: the conditional upload (one PUT, or
			// a multipart upload) must refuse.
			r := &hookReader{r: bytes.NewReader(make([]byte, size)), first: func() {
				if _, err := f.admin.PutObject(ctx, "plain", "race/"+key, strings.NewReader("early"), 5, minio.PutObjectOptions{}); err != nil {
					t.Errorf("the other writer: %v", err)
				}
			}}
			err := target.Put(ctx, key, r)
			if err == nil || !strings.Contains(err.Error(), "exists") {
				t.Fatalf("put: %v, want exists", err)
			}
			if got := mustGet(t, target, key); string(got) != "early" {
				t.Fatalf("got %d bytes, want early", len(got))
			}
		})
	}

	t.Run("get of a missing key is fs.ErrNotExist", func(t *testing.T) {
		target := f.target(t, "plain/missing", "")
		_, err := target.Get(ctx, "b1/manifest.json")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("get: %v, want fs.ErrNotExist", err)
		}
		if !strings.Contains(err.Error(), target.Name()) {
			t.Errorf("the error does not name the target: %v", err)
		}
	})

	t.Run("delete of a missing key is no error", func(t *testing.T) {
		if err := f.target(t, "plain/missing", "").Delete(ctx, "b1/manifest.json"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a bucket without object lock is not immutable", func(t *testing.T) {
		for _, bucket := range []string{"plain", "versioned"} {
			if f.target(t, bucket+"/p", "").Immutable() {
				t.Errorf("%s: Immutable() = true", bucket)
			}
		}
	})

	t.Run("delete in a versioned bucket leaves no version behind", func(t *testing.T) {
		target := f.target(t, "versioned/p", "")
		mustPut(t, target, "b1/manifest.json", []byte("x"))
		if err := target.Delete(ctx, "b1/manifest.json"); err != nil {
			t.Fatal(err)
		}
		for o := range f.admin.ListObjects(ctx, "versioned", minio.ListObjectsOptions{Prefix: "p/", Recursive: true, WithVersions: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			t.Errorf("left behind: %s version %s (delete marker %v)", o.Key, o.VersionID, o.IsDeleteMarker)
		}
	})

	for _, c := range []struct {
		params string
		mode   minio.RetentionMode
	}{{"", minio.Compliance}, {"&lock=governance", minio.Governance}} {
		t.Run("object lock "+c.mode.String()+": immutable, and a locked object cannot be deleted", func(t *testing.T) {
			target := f.target(t, "locked/"+strings.ToLower(c.mode.String()), c.params)
			if !target.Immutable() {
				t.Fatal("Immutable() = false on a bucket with object lock")
			}
			before := time.Now()
			mustPut(t, target, "b1/manifest.json", []byte("kept"))
			mustPut(t, target, "b1/db.sqlite", make([]byte, 17<<20)) // a multipart upload

			for _, key := range []string{"b1/manifest.json", "b1/db.sqlite"} {
				mode, until := f.retention(t, "locked", strings.ToLower(c.mode.String())+"/"+key)
				if mode != c.mode.String() {
					t.Errorf("%s: retention mode %q, want %v", key, mode, c.mode)
				}
				if until.Before(before.Add(time.Hour-time.Second)) || until.After(time.Now().Add(time.Hour+time.Second)) {
					t.Errorf("%s: retained until %v, want about an hour from %v", key, until, before)
				}
			}

			err := target.Delete(ctx, "b1/manifest.json")
			if err == nil {
				t.Fatal("the delete of a locked object succeeded")
			}
			if !strings.Contains(err.Error(), target.Name()) {
				t.Errorf("the error does not name the target: %v", err)
			}
			if got := mustGet(t, target, "b1/manifest.json"); string(got) != "kept" {
				t.Fatalf("got %q after the refused delete, want kept", got)
			}
			if got := mustList(t, target, ""); !slices.Equal(got, []string{"b1/db.sqlite", "b1/manifest.json"}) {
				t.Fatalf("List = %q after the refused delete", got)
			}
		})
	}

	t.Run("a wrong secret fails with an error that does not show it", func(t *testing.T) {
		setCredentials(t, f.srv.AccessKey, testSecret)
		target := f.target(t, "plain/wrong", "")
		if target.Immutable() {
			t.Error("Immutable() = true though the lock configuration could not be read")
		}
		errs := []error{target.Put(ctx, "b1/manifest.json", strings.NewReader("x"))}
		_, err := target.Get(ctx, "b1/manifest.json")
		errs = append(errs, err)
		_, err = target.List(ctx, "")
		errs = append(errs, err, target.Delete(ctx, "b1/manifest.json"))
		for i, err := range errs {
			if err == nil {
				t.Errorf("call %d succeeded with a wrong secret", i)
				continue
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), f.srv.SecretKey) {
				t.Errorf("call %d: the error shows a secret: %v", i, err)
			}
			if !strings.Contains(err.Error(), target.Name()) {
				t.Errorf("call %d: the error does not name the target: %v", i, err)
			}
		}
	})

	t.Run("a canceled context stops a call", func(t *testing.T) {
		target := f.target(t, "plain/canceled", "")
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := target.Put(ctx, "b1/manifest.json", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("put: %v, want context.Canceled", err)
		}
		if _, err := target.List(ctx, ""); !errors.Is(err, context.Canceled) {
			t.Errorf("list: %v, want context.Canceled", err)
		}
	})
}

// hookReader calls first before its first read.
type hookReader struct {
	r     io.Reader
	first func()
	done  bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	if !h.done {
		h.done = true
		h.first()
	}
	return h.r.Read(p)
}
