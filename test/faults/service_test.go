package faults

import (
	"io"
	"net"
	"sync"
	"time"
)

// service stands in for the webhook's ClusterIP Service and kube-proxy, and
// says honestly what it models and what it does not.
//
// What it models: the apiserver resolves clientConfig.service through the
// Service (here an ExternalName Service naming "localhost", since
// EndpointSlices refuse loopback addresses and no kube-proxy runs; see
// k8s.io/apiserver/pkg/util/proxy ResolveCluster, which turns ExternalName
// into https://<externalName>:<port>) and dials this listener; each new TCP
// connection goes to one ready endpoint (round robin, as kube-proxy's rules
// pick one per connection) and stays on it for its life, as conntrack keeps
// an established connection on its pod after the pod left the endpoints.
// Endpoints: a replica is added once its /readyz answers 200 and removed
// when it fails (polled every probePeriod, standing for the readiness probe
// and the EndpointSlice update), or at once when the test terminates its
// pod (the endpoints controller drops a terminating pod).
//
// What it does not: no iptables/IPVS, no DNS, no node-local routing; a dial
// to a dead endpoint is refused at once here, where a real network may also
// time out.
type service struct {
	ln          []net.Listener
	mu          sync.Mutex
	endpoints   map[string]bool // replica address -> in the endpoints
	probes      map[string]func() bool
	next        int
	stop        chan struct{}
	probePeriod time.Duration
}

func newService(probePeriod time.Duration) (*service, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s := &service{ln: []net.Listener{ln}, endpoints: map[string]bool{}, probes: map[string]func() bool{},
		stop: make(chan struct{}), probePeriod: probePeriod}
	// "localhost" may resolve to ::1 first: listen there too when it can.
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", itoa(port))); err == nil {
		s.ln = append(s.ln, ln6)
	}
	for _, l := range s.ln {
		go s.accept(l)
	}
	go s.probe()
	return s, port, nil
}

func itoa(i int) string { return (&net.TCPAddr{Port: i}).String()[1:] }

// add registers a replica; it joins the endpoints once ready says so.
func (s *service) add(addr string, ready func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probes[addr] = ready
}

// terminate removes a replica from the endpoints at once (its pod is
// terminating) and stops probing it. Established connections stay.
func (s *service) terminate(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.probes, addr)
	delete(s.endpoints, addr)
}

func (s *service) probe() {
	tick := time.NewTicker(s.probePeriod)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		probes := make(map[string]func() bool, len(s.probes))
		for a, p := range s.probes {
			probes[a] = p
		}
		s.mu.Unlock()
		for addr, ready := range probes {
			ok := ready()
			s.mu.Lock()
			if _, still := s.probes[addr]; still {
				s.endpoints[addr] = ok
			}
			s.mu.Unlock()
		}
	}
}

// ready is the number of endpoints that are ready.
func (s *service) ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ok := range s.endpoints {
		if ok {
			n++
		}
	}
	return n
}

func (s *service) pick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ready []string
	for a, ok := range s.endpoints {
		if ok {
			ready = append(ready, a)
		}
	}
	if len(ready) == 0 {
		return ""
	}
	s.next++
	return ready[s.next%len(ready)]
}

func (s *service) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go s.forward(c)
	}
}

// forward splices the client connection with one to an endpoint (TLS
// passes through). No endpoint, or a refused dial, closes the client's
// connection: what the apiserver then sees is its own error.
func (s *service) forward(c net.Conn) {
	defer c.Close()
	addr := s.pick()
	if addr == "" {
		return
	}
	b, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer b.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(b, c); b.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, b); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

func (s *service) close() {
	close(s.stop)
	for _, l := range s.ln {
		l.Close()
	}
}
