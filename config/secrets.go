package config

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

const (
	// keySize is the size of the store encryption key: AES-256.
	keySize = 32
	// minAPIKeyLen is the shortest admin key accepted.
	minAPIKeyLen = 16

	generateKey    = "openssl rand -hex 32"
	keyFormats     = "the key must be 32 bytes, written as 64 hex characters or base64"
	keyFileFormats = "the file must hold 32 raw bytes, 64 hex characters or base64 of 32 bytes"
	apiKeyFix      = "use a random key of at least 16 characters; generate one with: " + generateKey
)

// ResolveEncryptionKey returns the 32-byte store encryption key, or nil and no error when
// none is configured (the store is not encrypted).
//
// The key comes from EncryptionKey (64 hex characters or standard base64, usually set
// through WAGATE_STORE_ENCRYPTION_KEY) or from the file EncryptionKeyFile, which holds
// 32 raw bytes or the same text; whitespace around the text is ignored. Generate a key
// with:
//
//	openssl rand -hex 32
func (s Store) ResolveEncryptionKey() ([]byte, error) {
	switch {
	case s.EncryptionKey != "" && s.EncryptionKeyFile != "":
		return nil, &FieldError{Path: "store.encryption_key", Problem: "is set together with store.encryption_key_file", Fix: "keep only one of them"}
	case s.EncryptionKey != "":
		key, err := decodeKey(s.EncryptionKey)
		if err != nil {
			return nil, &FieldError{Path: "store.encryption_key", Problem: err.Error(), Fix: keyFormats + "; generate one with: " + generateKey}
		}
		return key, nil
	case s.EncryptionKeyFile != "":
		data, err := os.ReadFile(s.EncryptionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("store.encryption_key_file: reading the encryption key: %w", err)
		}
		if len(data) == keySize {
			return data, nil
		}
		key, err := decodeKey(string(data))
		if err != nil {
			return nil, &FieldError{
				Path:    "store.encryption_key_file",
				Problem: fmt.Sprintf("%s holds %d bytes, not 32 raw bytes, and its text %v", s.EncryptionKeyFile, len(data), err),
				Fix:     keyFileFormats + "; generate one with: " + generateKey + " > " + s.EncryptionKeyFile,
			}
		}
		return key, nil
	}
	return nil, nil
}

// decodeKey decodes a key written as 64 hex characters or as standard base64 of 32
// bytes. The error says what the text is without repeating it, since it is a secret.
func decodeKey(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, errors.New("is empty")
	}
	if b, err := hex.DecodeString(s); err == nil {
		if len(b) == keySize {
			return b, nil
		}
		return nil, fmt.Errorf("is hex of %d bytes, not %d", len(b), keySize)
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		if len(b) == keySize {
			return b, nil
		}
		return nil, fmt.Errorf("is base64 of %d bytes, not %d", len(b), keySize)
	}
	return nil, fmt.Errorf("is %d characters of neither hex nor base64", len(s))
}

// ResolveAPIKey returns the admin API key, or "" and no error when none is configured
// (the gateway then generates one on first start). The key comes from APIKey (usually
// set through WAGATE_ADMIN_API_KEY) or from the file APIKeyFile; surrounding whitespace
// is removed from either. A key shorter than 16 characters is an error.
func (a Admin) ResolveAPIKey() (string, error) {
	switch {
	case a.APIKey != "" && a.APIKeyFile != "":
		return "", &FieldError{Path: "admin.api_key", Problem: "is set together with admin.api_key_file", Fix: "keep only one of them"}
	case a.APIKey != "":
		key := strings.TrimSpace(a.APIKey)
		if err := checkAPIKey(key); err != nil {
			return "", &FieldError{Path: "admin.api_key", Problem: err.Error(), Fix: apiKeyFix}
		}
		return key, nil
	case a.APIKeyFile != "":
		data, err := os.ReadFile(a.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("admin.api_key_file: reading the admin key: %w", err)
		}
		key := strings.TrimSpace(string(data))
		if err := checkAPIKey(key); err != nil {
			return "", &FieldError{Path: "admin.api_key_file", Problem: fmt.Sprintf("the key in %s %v", a.APIKeyFile, err), Fix: apiKeyFix}
		}
		return key, nil
	}
	return "", nil
}

// checkAPIKey rejects a key too short to resist guessing.
func checkAPIKey(key string) error {
	if key == "" {
		return errors.New("is empty")
	}
	if n := len(key); n < minAPIKeyLen {
		return fmt.Errorf("is %d characters, fewer than %d", n, minAPIKeyLen)
	}
	return nil
}
