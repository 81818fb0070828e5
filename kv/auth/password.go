package auth

import (
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// Passwords are hashed with bcrypt before they are proposed, as etcd's API layer does (the
// log and the store never hold a password), and checked against the stored hash outside the
// state machine (bcrypt is slow on purpose; the member's goroutine must not wait for it).

// DefaultBcryptCost is etcd's --bcrypt-cost default (bcrypt.DefaultCost).
const DefaultBcryptCost = bcrypt.DefaultCost

// CheckBcryptCost refuses a --bcrypt-cost bcrypt cannot use (etcd: 4 to 31).
func CheckBcryptCost(cost int) error {
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return fmt.Errorf("invalid bcrypt-cost %d: must be from %d to %d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return nil
}

// HashPassword returns password's bcrypt hash at cost, base64-encoded as etcd's
// AuthUserAddRequest.HashedPassword carries it.
func HashPassword(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return base64.StdEncoding.EncodeToString(h), nil
}

// CheckPassword reports whether password matches hash (a stored bcrypt hash, as
// Store.Password returns it): nil, or etcd's authentication failure.
func CheckPassword(hash []byte, password string) error {
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return ErrAuthFailed
	}
	return nil
}
