package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
)

// SignSHA256 returns the signature header value of the sha256= formats (infraaudit and
// frugally): "sha256=" and the lowercase hex HMAC-SHA256 of body under key. The key is
// the secret string's own bytes, whsec_ prefix included (herald.SecretKey).
func SignSHA256(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// SignStandard returns one Standard Webhooks signature, "v1,<base64>": the standard
// base64 HMAC-SHA256 under key of "<id>.<ts>.<body>", where ts is the webhook-timestamp in
// Unix seconds. The key is the base64-decoded secret after whsec_ (herald.SecretKey).
func SignStandard(key []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
