package policies

import corev1 "k8s.io/api/core/v1"

// What a pod UPDATE changes, for the image policies. The apiserver lets an
// update of a running pod change the image of a container or init container
// (spec.containers[*].image, spec.initContainers[*].image) and, through the
// pods/ephemeralcontainers subresource (kubectl debug), add ephemeral
// containers; it refuses any change to an existing ephemeral container
// ("existing ephemeral containers "x" may not be changed"). So an image is
// judged when the update brings it in, and left as it was otherwise: an
// update must neither swap an image it did not touch (a restart the user did
// not ask for, or a refused debug) nor be denied for it.

// podImages are the images of a pod before an update, by container name
// (names are unique across a pod's containers, init containers and ephemeral
// containers). A nil podImages is a CREATE: every image is new.
type podImages map[string]string

// imagesBefore returns the images of req's old pod, or nil when req is not an
// UPDATE with an old pod (a CREATE, or review).
func imagesBefore(req Request) podImages {
	old, ok := Old[*corev1.Pod](req)
	if !ok || old == nil || req.Operation != "UPDATE" {
		return nil
	}
	images := podImages{}
	for _, c := range old.Spec.InitContainers {
		images[c.Name] = c.Image
	}
	for _, c := range old.Spec.Containers {
		images[c.Name] = c.Image
	}
	for _, c := range old.Spec.EphemeralContainers {
		images[c.Name] = c.Image
	}
	return images
}

// isNew reports whether container name's image is brought in by the request:
// on a CREATE always, on an UPDATE when the container is new or its image
// differs from the old pod's.
func (before podImages) isNew(name, image string) bool {
	if before == nil {
		return true
	}
	old, had := before[name]
	return !had || old != image
}
