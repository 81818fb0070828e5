package rpc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ballastdb/ballast/kv/auth"
)

// JWT tokens (--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...), as etcd
// has them: a token is signed by the member that answers the Authenticate and carries the
// user name, the auth revision at which the password was checked and an expiry; every member
// verifies it with the public key, so nothing about it goes through the log or lives in a
// member's memory. A member given only the public key verifies tokens but cannot issue
// them (etcd's "verify-only"). The wall clock decides expiry: this is the API layer, which
// the simulator does not run.

// DefaultJWTTTL is etcd's JWT token lifetime when the options give no ttl.
const DefaultJWTTTL = 5 * time.Minute

var (
	errInvalidAuthOpts   = errors.New("auth: invalid auth options")
	errInvalidAuthMethod = errors.New("auth: invalid auth signature method")
	errMissingKey        = errors.New("auth: missing key data")
	errKeyMismatch       = errors.New("auth: public and private keys don't match")
	errVerifyOnly        = errors.New("auth: token signing attempted with verify-only key")
)

type jwtTokens struct {
	method     jwt.SigningMethod
	key        any // a private key (signs and verifies) or a public key (verifies only)
	ttl        time.Duration
	verifyOnly bool
}

// parseTokenOptions parses --auth-token: "simple" (nil) or "jwt,k=v,...".
func parseTokenOptions(spec string) (*jwtTokens, error) {
	parts := strings.Split(spec, ",")
	opts := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("--auth-token %q: option %q is not key=value: %w", spec, p, errInvalidAuthOpts)
		}
		if _, dup := opts[k]; dup {
			return nil, fmt.Errorf("--auth-token %q: option %q given twice: %w", spec, k, errInvalidAuthOpts)
		}
		opts[k] = v
	}
	switch parts[0] {
	case "", "simple":
		return nil, nil
	case "jwt":
	default:
		return nil, fmt.Errorf("--auth-token %q: unknown token type %q: %w", spec, parts[0], errInvalidAuthOpts)
	}
	var unknown []string
	for k := range opts {
		switch k {
		case "sign-method", "pub-key", "priv-key", "ttl":
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("--auth-token %q: unknown JWT options %v: %w", spec, unknown, errInvalidAuthOpts)
	}
	t := &jwtTokens{ttl: DefaultJWTTTL}
	if s := opts["ttl"]; s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--auth-token %q: ttl %q is not a positive duration: %w", spec, s, errInvalidAuthOpts)
		}
		t.ttl = d
	}
	t.method = jwt.GetSigningMethod(opts["sign-method"])
	if t.method == nil || t.method == jwt.SigningMethodNone {
		return nil, fmt.Errorf("--auth-token %q: sign-method %q: %w", spec, opts["sign-method"], errInvalidAuthMethod)
	}
	var pub, priv []byte
	var err error
	if f := opts["pub-key"]; f != "" {
		if pub, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("--auth-token: pub-key: %w", err)
		}
	}
	if f := opts["priv-key"]; f != "" {
		if priv, err = os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("--auth-token: priv-key: %w", err)
		}
	}
	if t.key, t.verifyOnly, err = jwtKey(t.method, pub, priv); err != nil {
		return nil, fmt.Errorf("--auth-token %q: %w", spec, err)
	}
	return t, nil
}

// jwtKey parses the PEM keys for method: the private key when given (checked against the
// public key when both are), else the public key (verify only).
func jwtKey(method jwt.SigningMethod, pubPEM, privPEM []byte) (any, bool, error) {
	if _, ok := method.(*jwt.SigningMethodHMAC); ok {
		if len(privPEM) == 0 {
			return nil, false, errMissingKey
		}
		return privPEM, false, nil
	}
	var priv, pub crypto.PublicKey
	var signer any
	var err error
	switch method.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if len(privPEM) > 0 {
			var k *rsa.PrivateKey
			if k, err = jwt.ParseRSAPrivateKeyFromPEM(privPEM); err == nil {
				signer, priv = k, k.Public()
			}
		}
		if err == nil && len(pubPEM) > 0 {
			pub, err = jwt.ParseRSAPublicKeyFromPEM(pubPEM)
		}
	case *jwt.SigningMethodECDSA:
		if len(privPEM) > 0 {
			var k *ecdsa.PrivateKey
			if k, err = jwt.ParseECPrivateKeyFromPEM(privPEM); err == nil {
				signer, priv = k, k.Public()
			}
		}
		if err == nil && len(pubPEM) > 0 {
			pub, err = jwt.ParseECPublicKeyFromPEM(pubPEM)
		}
	case *jwt.SigningMethodEd25519:
		if len(privPEM) > 0 {
			var k crypto.PrivateKey
			if k, err = jwt.ParseEdPrivateKeyFromPEM(privPEM); err == nil {
				signer, priv = k, k.(ed25519.PrivateKey).Public()
			}
		}
		if err == nil && len(pubPEM) > 0 {
			pub, err = jwt.ParseEdPublicKeyFromPEM(pubPEM)
		}
	default:
		return nil, false, fmt.Errorf("unsupported signing method: %T", method)
	}
	switch {
	case err != nil:
		return nil, false, err
	case signer == nil && pub == nil:
		return nil, false, errMissingKey
	case signer == nil:
		return pub, true, nil
	case pub != nil && !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(priv):
		return nil, false, errKeyMismatch
	}
	return signer, false, nil
}

// assign signs a token for user checked at auth revision rev.
func (t *jwtTokens) assign(user string, rev uint64) (string, error) {
	if t.verifyOnly {
		return "", errVerifyOnly
	}
	tk := jwt.NewWithClaims(t.method, jwt.MapClaims{"username": user, "revision": rev, "exp": time.Now().Add(t.ttl).Unix()})
	return tk.SignedString(t.key)
}

// info verifies token: its user and revision, or false when it is malformed, signed
// otherwise, expired or without etcd's claims.
func (t *jwtTokens) info(token string) (auth.Info, bool) {
	parsed, err := jwt.Parse(token, func(tk *jwt.Token) (any, error) {
		if tk.Method.Alg() != t.method.Alg() {
			return nil, errors.New("invalid signing method")
		}
		switch k := t.key.(type) {
		case *rsa.PrivateKey:
			return &k.PublicKey, nil
		case *ecdsa.PrivateKey:
			return &k.PublicKey, nil
		case ed25519.PrivateKey:
			return k.Public(), nil
		default:
			return t.key, nil
		}
	})
	if err != nil || !parsed.Valid {
		return auth.Info{}, false
	}
	claims, ok := parsed.Claims.(jwt.MapClaims)
	if !ok {
		return auth.Info{}, false
	}
	user, ok := claims["username"].(string)
	if !ok {
		return auth.Info{}, false
	}
	rev, ok := claims["revision"].(float64)
	if !ok || rev < 1 {
		return auth.Info{}, false
	}
	return auth.Info{User: user, Revision: uint64(rev)}, true
}
