package backup

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Bounds on the network. A request that is not a stream of object data (a
// look-up, a listing, a delete) has callTimeout in all; the lock check,
// which Immutable makes without a caller's context, lockCheckTimeout. An
// object's data has no total bound, since a backup may be large, but a
// connection that moves no byte either way for stallTimeout is closed, so
// an upload or a download that has stopped ends with an error.
const (
	callTimeout      = 30 * time.Second
	lockCheckTimeout = 10 * time.Second
	stallTimeout     = 2 * time.Minute
	dialTimeout      = 10 * time.Second

	// partSize is how much of a Put is held in memory and sent as one
	// part: the object's size is not known in advance (it is streamed), and
	// S3 allows maxParts parts, so one object may be up to about 156 GiB.
	partSize = 16 << 20
	maxParts = 10000

	defaultEndpoint = "s3.amazonaws.com"
)

// S3 is a bucket, and a prefix in it, on an S3-compatible object store.
// Credentials come from the environment only (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN): never from the URL, never in
// Name or an error. They need s3:GetBucketObjectLockConfiguration,
// s3:ListBucket, s3:ListBucketVersions, s3:GetObject, s3:PutObject,
// s3:PutObjectRetention and s3:DeleteObjectVersion (s3:DeleteObject on an
// unversioned bucket), and should not have s3:BypassGovernanceRetention.
type S3 struct {
	client    *minio.Client
	bucket    string
	prefix    string // "" or "a/b", no slash at either end
	name      string
	mode      minio.RetentionMode
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	checked bool // the lock configuration has been read
	locked  bool
}

var _ Target = (*S3)(nil)

var regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// newS3 reads s3://bucket/prefix?endpoint=host:port&region=r&insecure=1&lock=governance
// (retention already taken out of q). It makes no request: the store is
// first reached by the first call that needs it.
func newS3(u *url.URL, q url.Values, retention time.Duration) (Target, error) {
	where := "backup target s3://" + u.Host + u.EscapedPath()
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("%s: an object store target is s3://bucket/prefix?endpoint=host:port", where)
	}
	if u.Port() != "" {
		return nil, fmt.Errorf("%s: the host of the URL is the bucket; give the server as endpoint=host:port", where)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%s: a target URL has no #fragment", where)
	}
	bucket := u.Host
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return nil, fmt.Errorf("%s: bucket name %q: %w", where, bucket, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, fmt.Errorf("%s: prefix %q is not a clean relative path", where, prefix)
		}
	}

	for k, v := range q {
		switch k {
		case "endpoint", "region", "insecure", "lock":
		default:
			// The name only: a value might be a secret given by mistake.
			return nil, fmt.Errorf("%s: unknown parameter %q (an object store target takes endpoint, region, insecure, lock and retention)", where, k)
		}
		if len(v) != 1 {
			return nil, fmt.Errorf("%s: %s is given more than once", where, k)
		}
	}

	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = defaultEndpoint
	}
	host, err := checkEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}

	secure := true
	switch v, ok := q["insecure"]; {
	case !ok:
	case v[0] != "1":
		return nil, fmt.Errorf("%s: insecure takes only 1 (plain HTTP, for a loopback endpoint)", where)
	case !isLoopbackIP(host):
		// A name is not enough: it is resolved when dialling, and whatever
		// answers then would see the request and its signature in clear.
		return nil, fmt.Errorf("%s: insecure=1 (plain HTTP) is allowed only for a loopback IP address such as 127.0.0.1 or [::1], not %s", where, endpoint)
	default:
		secure = false
	}

	region := q.Get("region")
	if region != "" && !regionPattern.MatchString(region) {
		return nil, fmt.Errorf("%s: region %q is not a region name such as us-east-1", where, region)
	}

	mode := minio.Compliance
	switch q.Get("lock") {
	case "", "compliance":
	case "governance":
		mode = minio.Governance
	default:
		return nil, fmt.Errorf("%s: lock is compliance (the default) or governance", where)
	}

	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, fmt.Errorf("%s: no credentials: give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)", where)
	}

	client, err := minio.New(endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(id, secret, os.Getenv("AWS_SESSION_TOKEN")),
		Secure:     secure,
		Region:     region,
		Transport:  newTransport(),
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}

	name := "s3://" + bucket
	if prefix != "" {
		name += "/" + prefix
	}
	name += "?endpoint=" + endpoint
	return &S3{
		client:    client,
		bucket:    bucket,
		prefix:    prefix,
		name:      name,
		mode:      mode,
		retention: retention,
		now:       time.Now,
	}, nil
}

// checkEndpoint accepts host or host:port, with no scheme, user or path,
// and returns the host.
func checkEndpoint(endpoint string) (string, error) {
	bad := fmt.Errorf("endpoint %q is not host or host:port (no scheme: HTTPS is the default, insecure=1 asks for HTTP)", endpoint)
	if strings.Contains(endpoint, "://") {
		return "", bad
	}
	e, err := url.Parse("//" + endpoint)
	if err != nil || e.Host != endpoint || e.User != nil || e.Path != "" || e.RawQuery != "" || e.Hostname() == "" {
		return "", bad
	}
	return e.Hostname(), nil
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newTransport is http.DefaultTransport's settings with TLS 1.2 or later,
// bounded dials and handshakes, and connections that close when stalled.
func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return stallConn{c}, nil
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: stallTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}

// stallConn gives every read and write stallTimeout to make progress.
type stallConn struct{ net.Conn }

func (c stallConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(stallTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c stallConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(stallTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// Name is s3://bucket/prefix?endpoint=host:port.
func (s *S3) Name() string { return s.name }

// Offsite is true: the objects are kept by another system, reached over the
// network and written with its own credentials, so a failure of this
// machine's disks, or its files being encrypted or deleted, does not reach
// them. (An endpoint on loopback is most likely a gateway in front of such
// a system; one that stores on this machine's own disks, as a test server
// does, would not be offsite, and this cannot tell.)
func (s *S3) Offsite() bool { return true }

// Retention is how long backups are kept there; with object lock, it is also
// how long each object is locked from when it was put.
func (s *S3) Retention() time.Duration { return s.retention }

// Immutable reports whether the bucket has object lock enabled, in which
// case Put locks every object for Retention (in COMPLIANCE mode, or
// GOVERNANCE if the URL says lock=governance, which a user granted
// s3:BypassGovernanceRetention can still lift). When the configuration
// cannot be read (within lockCheckTimeout) it reports false: what it
// cannot confirm it does not claim; a later call asks again.
func (s *S3) Immutable() bool {
	ctx, cancel := context.WithTimeout(context.Background(), lockCheckTimeout)
	defer cancel()
	locked, err := s.lockEnabled(ctx)
	return err == nil && locked
}

// lockEnabled reads the bucket's object lock configuration once. A failure
// is not remembered, so the next call tries again.
func (s *S3) lockEnabled(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checked {
		return s.locked, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lockCheckTimeout)
	defer cancel()
	status, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	switch {
	case err == nil:
		s.locked = status == "Enabled"
	case errorCode(err) == "ObjectLockConfigurationNotFoundError":
		s.locked = false
	default:
		return false, fmt.Errorf("%s: read the bucket's object lock configuration: %w", s.name, err)
	}
	s.checked = true
	return s.locked, nil
}

func (s *S3) object(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

func errorCode(err error) string { return minio.ToErrorResponse(err).Code }

// Put streams r to key. It refuses a key that exists, twice over: a look-up
// first (for a clear error), and the upload itself is conditional
// (If-None-Match: *), so that a store which honours it, as AWS does,
// refuses a key written in between. With object lock the object is locked
// until now + Retention.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	locked, err := s.lockEnabled(ctx)
	if err != nil {
		return err
	}
	exists, err := s.exists(ctx, key)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("%s: %s exists", s.name, key)
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if locked {
		opts.Mode = s.mode
		opts.RetainUntilDate = s.now().Add(s.retention)
	}
	if err := s.upload(ctx, s.object(key), readerWithContext(ctx, r), opts); err != nil {
		if errorCode(err) == "PreconditionFailed" {
			return fmt.Errorf("%s: %s exists", s.name, key)
		}
		return fmt.Errorf("%s: put %s: %w", s.name, key, err)
	}
	return nil
}

// upload sends r in parts of partSize, each with its MD5 for the store to
// check (AWS asks for it with object lock): in one PUT when it fits in one
// part, else in a multipart upload, both conditional on the object being
// absent. It is written here rather than left to minio-go's PutObject,
// whose streaming upload leaves the condition off the request that
// completes a multipart upload, the one that would have to refuse.
func (s *S3) upload(ctx context.Context, object string, r io.Reader, opts minio.PutObjectOptions) error {
	core := minio.Core{Client: s.client}
	opts.SetMatchETagExcept("*")
	buf := make([]byte, partSize)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		_, err := core.PutObject(ctx, s.bucket, object, bytes.NewReader(buf[:n]), int64(n), md5Base64(buf[:n]), "", opts)
		return err
	}
	if err != nil {
		return err
	}
	id, err := core.NewMultipartUpload(ctx, s.bucket, object, opts)
	if err != nil {
		return err
	}
	abort := func(err error) error {
		// The caller's context may be what ended the upload.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
		defer cancel()
		if aerr := core.AbortMultipartUpload(ctx, s.bucket, object, id); aerr != nil {
			return fmt.Errorf("%w (and the upload's parts are left: %v)", err, aerr)
		}
		return err
	}
	var parts []minio.CompletePart
	for n > 0 {
		if len(parts) == maxParts {
			return abort(fmt.Errorf("larger than %d parts of %d MiB", maxParts, partSize>>20))
		}
		p, err := core.PutObjectPart(ctx, s.bucket, object, id, len(parts)+1, bytes.NewReader(buf[:n]), int64(n),
			minio.PutObjectPartOptions{Md5Base64: md5Base64(buf[:n])})
		if err != nil {
			return abort(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
		n, err = io.ReadFull(r, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return abort(err)
		}
	}
	var complete minio.PutObjectOptions
	complete.SetMatchETagExcept("*")
	if _, err := core.CompleteMultipartUpload(ctx, s.bucket, object, id, parts, complete); err != nil {
		return abort(err)
	}
	return nil
}

func md5Base64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (s *S3) exists(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	switch {
	case err == nil:
		return true, nil
	case errorCode(err) == "NoSuchKey":
		return false, nil
	default:
		return false, fmt.Errorf("%s: look up %s: %w", s.name, key, err)
	}
}

// Get opens key: an error wrapping fs.ErrNotExist when there is none. The
// request must be answered within callTimeout; the data then flows for as
// long as it moves.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	obj, err := s.client.GetObject(ctx, s.bucket, s.object(key), minio.GetObjectOptions{})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s: get %s: %w", s.name, key, err)
	}
	timer := time.AfterFunc(callTimeout, cancel)
	_, err = obj.Stat() // sends the request
	if !timer.Stop() && err == nil {
		err = context.DeadlineExceeded
	}
	if err != nil {
		obj.Close()
		cancel()
		if errorCode(err) == "NoSuchKey" {
			return nil, fmt.Errorf("%s: %s: %w", s.name, key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%s: get %s: %w", s.name, key, err)
	}
	return s3Object{obj, cancel}, nil
}

type s3Object struct {
	*minio.Object
	cancel context.CancelFunc
}

func (o s3Object) Close() error {
	err := o.Object.Close()
	o.cancel()
	return err
}

// List returns the keys under prefix, sorted.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	root := s.object("")
	var out []string
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: root + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("%s: list: %w", s.name, o.Err)
		}
		if key := strings.TrimPrefix(o.Key, root); key != "" && !strings.HasSuffix(key, "/") {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Delete removes every version of key, so that nothing of it is left (a
// delete without a version would only hide it behind a delete marker in a
// versioned bucket, which every bucket with object lock is). A key that is
// not there is no error; a version still locked is, and is left in place.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	obj := s.object(key)
	var versions []string
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: obj, WithVersions: true}) {
		if o.Err != nil {
			return fmt.Errorf("%s: list versions of %s: %w", s.name, key, o.Err)
		}
		if o.Key == obj {
			versions = append(versions, o.VersionID)
		}
	}
	var errs []error
	for _, v := range versions {
		err := s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{VersionID: v})
		if err != nil && errorCode(err) != "NoSuchKey" && errorCode(err) != "NoSuchVersion" {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: delete %s: %w", s.name, key, err)
	}
	return nil
}
