package runtime

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Message IDs are derived from (instance, partition, tag, number) so that a
// retried turn sends byte-identical messages with identical IDs and the
// provider's message-ID dedup makes the retry idempotent. The instance id is
// length-prefixed so that no two (instance, suffix) pairs render alike.
func messageID(instance string, partition uint64, tag byte, n uint64) string {
	b := make([]byte, 0, len(instance)+24)
	b = strconv.AppendInt(b, int64(len(instance)), 10)
	b = append(b, ':')
	b = append(b, instance...)
	b = append(b, '/')
	b = strconv.AppendUint(b, partition, 10)
	b = append(b, '/', tag)
	b = strconv.AppendUint(b, n, 10)
	return string(b)
}

// Message ID tags.
const (
	idActivity  = 'a' // activity task, n = decision
	idResult    = 'r' // activity result, n = decision
	idTimer     = 't' // timer, n = decision
	idChild     = 'c' // child start, n = decision
	idStart     = 's' // fire-and-forget start, n = decision
	idCancel    = 'x' // terminate sent to a cancelled child, n = decision
	idCascade   = 'X' // terminate cascaded to a child, n = decision
	idDone      = 'd' // completion sent to the parent, n = 0
	idContinue  = 'n' // continue-as-new wake-up, partition = the new one
	idClientNew = 'S' // client start, partition = the started one
)

// randomID returns a random message ID for client-originated messages that
// have no deterministic identity (events, terminate, suspend, resume).
func randomID(instance string, tag byte) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("runtime: crypto/rand: %v", err))
	}
	return messageID(instance, 0, tag, 0) + "-" + hex.EncodeToString(b[:])
}

// deterministicUUID renders a name-based (version 5 style) UUID.
func deterministicUUID(instance string, partition, n uint64) string {
	h := sha1.New()
	h.Write([]byte(messageID(instance, partition, 'u', n)))
	sum := h.Sum(nil)
	sum[6] = (sum[6] & 0x0f) | 0x50
	sum[8] = (sum[8] & 0x3f) | 0x80
	var out [36]byte
	hex.Encode(out[0:8], sum[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], sum[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], sum[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], sum[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], sum[10:16])
	return string(out[:])
}
