// Package herald holds Herald's domain: the events producers publish, the webhooks that
// subscribe to them, the deliveries and attempts that carry one to the other, and the
// small interfaces (Store, Cipher, Clock) the rest of the project implements.
//
// It imports nothing of the project and no driver, so every other package can depend on
// it and a reader can learn the whole model from this one folder.
package herald
