package compat

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// jwtShape is what a JWT says, without its signature and its time (see shapedFields):
// "jwt header={...} claims={...} exp=set", when its RS256 signature verifies with key;
// "" for anything else (the token then stays, and differs).
func jwtShape(token string, key *rsa.PublicKey) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || key == nil {
		return ""
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return ""
	}
	var header, claims map[string]any
	for i, into := range []*map[string]any{&header, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(data, into) != nil {
			return ""
		}
	}
	exp := "none"
	if v, ok := claims["exp"].(float64); ok && v > 0 {
		exp = "set"
	}
	delete(claims, "exp")
	return fmt.Sprintf("jwt header=%s claims=%s exp=%s", sortedJSON(header), sortedJSON(claims), exp)
}

// sortedJSON prints a JSON object's members sorted by name.
func sortedJSON(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s:%v", k, m[k])
	}
	return "{" + b.String() + "}"
}
