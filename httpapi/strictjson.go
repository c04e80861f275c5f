package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// Limits on the shape of a request body, beyond what encoding/json checks.
const (
	// maxBodyDepth is how deeply a request body may nest arrays and objects. encoding/json
	// stops at 10,000 levels; nothing a producer sends in earnest comes near 128, and
	// receivers' parsers (and the schema validator's recursion) should not be handed
	// thousands.
	maxBodyDepth = 128
	// maxDataDepth is how deeply an event's data may nest, counted from data itself, so
	// that the limit is the same in a single publish and in a batch.
	maxDataDepth = 64
)

// malformedPrefix starts the message of every structural refusal strictUnmarshal
// makes. huma passes body decoding errors on as text only, and humaError looks for this
// prefix to answer with the refusal's own message instead of a generic one.
const malformedPrefix = "malformed request: "

// jsonFormat is encoding/json made strict for request bodies: see strictUnmarshal.
var jsonFormat = huma.Format{
	Marshal:   huma.DefaultJSONFormat.Marshal,
	Unmarshal: strictUnmarshal,
}

// strictUnmarshal decodes a request body like json.Unmarshal, and refuses, as malformed,
// bodies that are not UTF-8, that nest deeper than maxBodyDepth, or whose objects repeat
// a key. huma decodes every body into an untyped value first (to validate it) and then
// into the operation's struct; the checks run on the first decode only, so each body is
// scanned once.
//
// Duplicate keys are refused because JSON leaves their meaning open: one parser keeps
// the first, another the last, so the event Herald validated is not necessarily the one
// a receiver reads from the same signed bytes.
func strictUnmarshal(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	_, untyped := v.(*any)
	var typeErr *json.UnmarshalTypeError
	if untyped && errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Value, "number ") {
		// Decoding to validate reads numbers as float64, so one beyond its range cannot
		// be validated; it is refused rather than rounded to infinity.
		num := strings.TrimPrefix(typeErr.Value, "number ")
		if len(num) > 40 {
			num = num[:40] + "…"
		}
		return fmt.Errorf("%sthe number %s is out of range; numbers must be within ±1.7e308", malformedPrefix, num)
	}
	if err != nil || !untyped {
		return err
	}
	if err := checkStructure(data, "the body", maxBodyDepth); err != nil {
		return fmt.Errorf("%s%w", malformedPrefix, err)
	}
	return nil
}

// structureError is a structural problem in a JSON text, at a JSON pointer.
type structureError struct {
	Pointer string // "" for the whole text
	Problem string
}

func (e *structureError) Error() string {
	if e.Pointer == "" {
		return e.Problem
	}
	return e.Problem + " at " + e.Pointer
}

// checkStructure checks a JSON text that encoding/json has accepted: it must be UTF-8,
// nest at most maxDepth arrays and objects, and repeat no key within an object. It
// returns a *structureError naming where the first problem is, relative to the text,
// and calling the text what ("the body", "data").
//
// It scans the bytes rather than decoding tokens, because a batch body can be 16 MiB and
// the text is already known to be valid JSON: a quote always starts a string, and
// brackets and commas outside strings are structure.
func checkStructure(data []byte, what string, maxDepth int) error {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return &structureError{Problem: fmt.Sprintf("%s is not valid UTF-8 (byte %d); JSON must be UTF-8", what, off)}
	}
	var stack []jsonLevel
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			end := stringEnd(data, i)
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				top := &stack[n-1]
				key, err := decodeKey(data[i : end+1])
				if err != nil {
					return &structureError{Pointer: pointerOf(stack), Problem: "an object key is not a valid string"}
				}
				if top.has(key) {
					top.key = key
					return &structureError{
						Pointer: pointerOf(stack),
						Problem: fmt.Sprintf("the key %q appears twice in one object; duplicate keys are refused because signatures cover the exact bytes and receivers' JSON parsers disagree on which duplicate wins", clip(key, maxQuotedKey)),
					}
				}
				top.add(key)
				top.key, top.wantKey = key, false
			}
			i = end
		case '{', '[':
			if len(stack) >= maxDepth {
				return &structureError{Pointer: pointerOf(stack), Problem: fmt.Sprintf("%s nests deeper than %d levels", what, maxDepth)}
			}
			stack = append(stack, jsonLevel{object: data[i] == '{', wantKey: data[i] == '{'})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			top := &stack[len(stack)-1]
			if top.object {
				top.wantKey = true
			} else {
				top.index++
			}
		}
	}
	return nil
}

// jsonLevel is one open array or object while scanning.
type jsonLevel struct {
	object  bool
	wantKey bool   // an object's next string is a key
	key     string // an object's current key
	index   int    // an array's current index
	keys    []string
	keySet  map[string]struct{} // once keys grows past smallObject
}

// smallObject is how many keys an object keeps in a slice before switching to a map:
// most objects are small, and a slice scan beats hashing there.
const smallObject = 16

func (l *jsonLevel) has(key string) bool {
	if l.keySet != nil {
		_, ok := l.keySet[key]
		return ok
	}
	for _, k := range l.keys {
		if k == key {
			return true
		}
	}
	return false
}

func (l *jsonLevel) add(key string) {
	if l.keySet != nil {
		l.keySet[key] = struct{}{}
		return
	}
	l.keys = append(l.keys, key)
	if len(l.keys) > smallObject {
		l.keySet = make(map[string]struct{}, 2*len(l.keys))
		for _, k := range l.keys {
			l.keySet[k] = struct{}{}
		}
		l.keys = nil
	}
}

// stringEnd returns the index of the quote that closes the string opening at start.
func stringEnd(data []byte, start int) int {
	for j := start + 1; j < len(data); {
		k := bytes.IndexAny(data[j:], `"\\`)
		if k < 0 {
			break
		}
		j += k
		if data[j] == '"' {
			return j
		}
		j += 2 // a backslash and the byte it escapes, which cannot close the string
	}
	return len(data) - 1 // unreachable for valid JSON
}

// decodeKey returns the value of a quoted JSON string, unescaping only when it must:
// "a" and "\u0061" are the same key.
func decodeKey(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return s, err
}

// pointerOf is the JSON pointer (RFC 6901) of the value being scanned in stack.
//
// Keys are the caller's text and may be a megabyte each: an error quotes at most
// maxQuotedKey bytes of each and maxPointer of the whole, so a refusal stays small. A
// pointer cut that way locates the problem for a person, not for a program.
func pointerOf(stack []jsonLevel) string {
	var b strings.Builder
	for _, l := range stack {
		b.WriteByte('/')
		if l.object {
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(clip(l.key, maxQuotedKey)))
		} else {
			b.WriteString(strconv.Itoa(l.index))
		}
		if b.Len() > maxPointer {
			break
		}
	}
	return clip(b.String(), maxPointer)
}

// Bounds on how much of the caller's text a structural refusal quotes.
const (
	maxQuotedKey = 64  // bytes of one key
	maxPointer   = 512 // bytes of a JSON pointer
)

// clip returns s cut to at most limit bytes of valid UTF-8, with "…" when it was cut.
func clip(s string, limit int) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
