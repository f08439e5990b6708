/*
 * pvft's pair protocol with re-protection, for spin (tests/model/run.sh).
 *
 * What it models, and which C function does each action:
 * tests/model/README.md. The protocol: Documentation/pair.md (the pair,
 * the output rule, failover through the arbiter), the re-protection
 * protocol (ADVANCE, the join, GO), arbiter-protocol.md (ACQUIRE/QUERY,
 * the test-and-set per (pair, epoch)).
 *
 * One pair P. Nodes: P0 and B0 (the pair of epoch 1, formed from boot),
 * J1 and J2 (pvft-hv started as joining backups with --epoch 2 and 3).
 * The survivor of epoch E re-protects with the joiner of epoch E+1:
 * at most two joins, epochs 1..MAXE = 3.
 *
 * Faults, everywhere: any message between replicas may be lost (each
 * send may drop it; a full inbox drops it, and so does a receiver that
 * closed that connection), one replica at a time may be cut off from
 * the others for a while (NPART partitions, 0 by default: drops cover
 * them), any replica may crash at any step (it goes to `dead`), any wait
 * may time out (a nondeterministic choice: failure detection), and an
 * arbiter request may be applied with its answer lost (the client asks
 * again: ACQUIRE is idempotent). The arbiter applies each request in one
 * indivisible step. A replica stopped (SIGSTOP) is one the scheduler
 * does not run.
 *
 * Properties (assertions; any violation is an error for pan):
 *   1. at most one replica acts live (islive: it won the arbiter and
 *      releases output on its own word) at any time: nlive <= 1, checked
 *      when a replica goes live and by the monitor in every state;
 *   2. a protected primary releases output k only after its backup
 *      acknowledged record k (bkacked, set by the backup itself);
 *   3. a joining backup goes live only after GO (gotgo);
 *   4. nobody goes live at, and the arbiter grants no ACQUIRE of, an
 *      epoch that was advanced past (opened or owned E+1).
 *
 * Mutants (-D...), each of which pan must find an error in (run.sh):
 *   MUT_NOGO            J without GO asks ACQUIRE(E+1) and goes live
 *   MUT_ALONE_AFTER_GO  S, after GO, goes on alone without ACQUIRE(E+1)
 *   MUT_ADVANCE_ANYONE  the arbiter lets a node that does not own (P,E)
 *                       ADVANCE it
 *   MUT_EARLY_RELEASE   the primary releases output without its ACK
 *   MUT_NO_TAS          the arbiter grants every ACQUIRE (no test-and-set)
 */

#define NN 5 /* node ids 1..4; 0 is nobody */
#define P0 1
#define B0 2
#define J1 3
#define J2 4

#ifndef MAXE
#define MAXE 3 /* epochs 1..MAXE: at most MAXE-1 joins */
#endif
#ifndef MAXREC
#define MAXREC 1 /* records (each with output that depends on it) per epoch */
#endif
#ifndef NPART
#define NPART 0 /* partitions (one replica cut off, then healed) */
#endif
#ifndef QLEN
#define QLEN 3 /* a replica's inbox; a send to a full one is lost */
#endif

/*
 * Witnesses (-DREACH=n): pan must find the scenario n reachable (an
 * assertion that it is not), so that the bounds do not leave out what the
 * properties are about:
 *   1 J2 goes live: two joins and three failovers
 *   2 a survivor that sent GO at epoch MAXE wins ACQUIRE(MAXE)
 *   3 a replica of an epoch advanced past is DENIED
 *   4 a protected primary releases output at epoch MAXE (after J2's ACK)
 *   5 a primary that does not hold its epoch's grant asks ADVANCE, refused
 */
#ifdef REACH
#define reach(n, c) assert(REACH != n || !(c))
#else
#define reach(n, c) skip
#endif

/* what a replica starts as */
#define PRIMARY 1
#define BACKUP 2
#define JOINER 3

#define ANY 255

mtype = {
	REC, ACK,                   /* the log channel */
	INFO, END, OK, NO, GO,      /* the join's migration stream */
	ACQUIRE, QUERY, ADVANCE,    /* arbiter requests */
	GRANTED, DENIED, FREE, OWNER, OPENED, ADVANCED /* answers */
};

chan inbox[NN] = [QLEN] of { mtype, byte, byte, byte }; /* type, from, epoch, seq */

/* The arbiter's durable state, per epoch of the one pair. */
byte owner[MAXE + 2];  /* ACQUIRE's test-and-set: the node granted (P,e) */
byte opened[MAXE + 2]; /* ADVANCE: the node that opened (P,e) */

/* Ghosts, for the properties. */
byte nlive;             /* replicas acting live */
bool islive[NN];
bool gotgo[NN];         /* a joiner received GO */
byte conn[NN];          /* the node whose connection a replica reads; 0:
                         * none, ANY: it listens for anyone (a joiner) */
byte bkacked[MAXE + 2]; /* the records the backup of epoch e has (and acks) */

byte isolated;          /* the replica cut off from the others, 0: none */

/*
 * The arbiter: request op of node me for epoch e, applied in one
 * indivisible step (pvft-arbiter serves one request line at a time and a
 * grant is on disk before it is answered; etcd's transaction is atomic).
 * Its answer in ans and the node it names in who. A request that never
 * arrived changes nothing: the model covers it by the replica not taking
 * its step yet. A request applied with its answer lost is asked again by
 * the replica (arbiter_lost below).
 */
inline arbiter(op, e)
{
	if
	:: op == ACQUIRE ->
		if
#ifdef MUT_NO_TAS
		:: true -> owner[e] = me; ans = GRANTED; who = me
#else
		:: owner[e] == 0 -> owner[e] = me; ans = GRANTED; who = me
		:: owner[e] == me -> ans = GRANTED; who = me
		:: else -> ans = DENIED; who = owner[e]
#endif
		fi;
		/* 4: no grant of an epoch advanced past */
		assert(ans != GRANTED || (opened[e + 1] == 0 && owner[e + 1] == 0))
	:: op == QUERY ->
		if
		:: owner[e] != 0 -> ans = OWNER; who = owner[e]
		:: owner[e] == 0 && opened[e] != 0 -> ans = OPENED; who = opened[e]
		:: else -> ans = FREE; who = 0
		fi
	:: op == ADVANCE ->
		if
#ifndef MUT_ADVANCE_ANYONE
		:: owner[e] == 0 -> ans = FREE; who = 0
		:: owner[e] != 0 && owner[e] != me -> ans = DENIED; who = owner[e]
#endif
		:: else ->
			if
			:: owner[e + 1] != 0 -> ans = DENIED; who = owner[e + 1]
			:: owner[e + 1] == 0 && opened[e + 1] != 0 &&
			   opened[e + 1] != me -> ans = DENIED; who = opened[e + 1]
			:: else -> opened[e + 1] = me; ans = ADVANCED; who = me
			fi
		fi
	fi
}

/* The same request, applied, its answer lost (a timeout after it left):
 * the replica asks again. */
inline arbiter_lost(op, e)
{
	arbiter(op, e);
	ans = 0;
	who = 0
}

/* A message to node `to`, or lost: on the way, or because `to` does not
 * read a connection from this node (it closed it, or never opened one:
 * conn), or its inbox is full. */
inline send(to, t, e, s)
{
	if
	:: isolated != me && isolated != to &&
	   (conn[to] == me || conn[to] == ANY) && nfull(inbox[to]) ->
		inbox[to] ! t, me, e, s
	:: true /* lost */
	fi
}

/* The message just handled, and the arbiter's answer, forgotten (a
 * smaller state space: they are dead once handled). */
inline forget()
{
	t = 0;
	from = 0;
	e = 0;
	s = 0;
	ans = 0;
	who = 0
}

/* A replica reads from node n from now on (0: nobody): what its inbox
 * holds from the connection it closes is gone with it. */
inline reads(n)
{
	conn[me] = n;
	do
	:: nempty(inbox[me]) -> inbox[me] ? _, _, _, _
	:: empty(inbox[me]) -> break
	od
}

/* A replica stops: crashed, halted, or exited. */
inline stop()
{
	if
	:: islive[me] -> islive[me] = 0; nlive--
	:: else
	fi;
	reads(0);
	seq = 0; acked = 0; rel = 0; got = 0; j = 0; tried = 0; viago = 0;
	ep = 0; peer = 0; role = 0;
	forget()
}

proctype Replica(byte me; byte role; byte ep; byte peer)
{
	byte seq;   /* primary: records sent (output k depends on record k) */
	byte acked; /* primary: the backup acknowledged records 1..acked */
	byte rel;   /* primary: outputs released */
	byte got;   /* backup: records received, in order */
	byte j;     /* survivor: the joiner */
	bool tried; /* the operator asked for a join at this epoch */
	bool viago; /* a primary that became one by sending GO */
	mtype t, ans;
	byte from, e, s, who;

	if
	:: role == PRIMARY -> goto primary
	:: role == BACKUP -> goto backup
	:: role == JOINER -> goto joiner
	fi;

	/* A protected primary of epoch ep, backup peer. */
primary:
	do
	:: atomic { seq < MAXREC -> seq++; send(peer, REC, ep, seq) }
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == ACK && from == peer && e == ep && s > acked -> acked = s
		:: else
		fi;
		forget()
	   }
#ifdef MUT_EARLY_RELEASE
	:: atomic { rel < seq ->
#else
	:: atomic { rel < seq && rel < acked ->
#endif
		rel++;
		assert(bkacked[ep] >= rel); /* 2 */
		reach(4, ep == MAXE)
	   }
	:: goto pfail /* the backup failed: timeout, lost link */
	:: seq == 0 && !tried && ep < MAXE -> tried = 1; goto sjoin /* pvft protect */
	:: goto dead
	od;

pfail:
	seq = 0; acked = 0; rel = 0; /* held output goes out if it wins */
#ifdef MUT_ALONE_AFTER_GO
	if
	:: viago -> goto golive
	:: else
	fi;
#endif
	goto acquire;

	/* A backup of epoch ep: records from peer, in order, acknowledged. */
backup:
	do
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == REC && from == peer && e == ep && s == got + 1 ->
			got = s;
			bkacked[ep] = s;
			send(peer, ACK, ep, s)
		:: t == REC && from == peer && e == ep && s != got + 1 ->
			forget();
			goto acquire /* a gap: a bad record */
		:: else
		fi;
		forget()
	   }
	:: goto acquire /* the primary failed: timeout, lost link */
	:: goto dead
	od;

	/* The peer failed: the arbiter decides (ACQUIRE(ep), retried). */
acquire:
	atomic { got = 0; reads(0) }
	do
	:: atomic {
		arbiter(ACQUIRE, ep);
		if
		:: ans == GRANTED -> forget(); goto golive
		:: else -> reach(3, opened[ep + 1] != 0); goto halt /* DENIED */
		fi
	   }
	:: d_step { arbiter_lost(ACQUIRE, ep) } /* asks again */
	:: goto dead
	od;

golive:
	atomic {
		assert(me < J1 || gotgo[me]); /* 3 */
		islive[me] = 1;
		nlive++;
		assert(nlive <= 1); /* 1 */
		assert(opened[ep + 1] == 0 && owner[ep + 1] == 0); /* 4 */
		reach(1, me == J2);
		reach(2, viago && ep == MAXE);
		peer = 0;
		viago = 0
	}
	/* fall through */

	/* Live, alone at epoch ep, holding its grant: output goes out at
	 * once (not modelled). The operator may ask it to re-protect. */
alone:
	do
	:: !tried && ep < MAXE -> tried = 1; goto sjoin
	:: goto dead
	od;

	/* The survivor's side of a join (S). */
sjoin:
	if
	:: atomic {
		arbiter(ADVANCE, ep);
		if
		:: ans == ADVANCED -> forget(); j = ep + 2; reads(j)
		:: else ->
			reach(5, !islive[me]);
			forget();
			goto back /* refused: runs on as it was */
		fi
	   }
	:: d_step { arbiter_lost(ADVANCE, ep) }; goto back /* no answer */
	fi;
	/* j: the joiner started with --epoch ep+1 */
	/* DOMAIN_INFO (role backup, pair, epoch E+1, JOIN), pre-copy pages */
	atomic { send(j, INFO, ep + 1, 0) }
	/* the cut: last pages, VCPU, DEVICES, GATE, LOG_TAIL, VERIFY, END */
	atomic { send(j, END, ep + 1, 0) }
	do
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == OK && from == j && e == ep + 1 -> forget(); break
		:: t == NO && from == j && e == ep + 1 -> forget(); goto joinfail
		:: else -> forget()
		fi
	   }
	:: goto joinfail /* link broken, timeout: the join failed */
	:: goto dead
	od;
	/* GO: the commit point. From here on S is the protected primary of
	 * E+1; it no longer acts live on its own word. */
	atomic {
		send(j, GO, ep + 1, 0);
		if
		:: islive[me] -> islive[me] = 0; nlive--
		:: else
		fi;
		ep++;
		peer = j;
		j = 0;
		seq = 0;
		acked = 0;
		rel = 0;
		tried = 0;
		viago = 1
	}
	goto primary;

joinfail:
	atomic {
		j = 0;
		if
		:: islive[me] -> reads(0)
		:: else -> reads(peer)
		fi
	}
back:
	if
	:: islive[me] -> goto alone
	:: else -> goto primary
	fi;

	/* A joining backup (J) of epoch ep. */
joiner:
	do
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == INFO && e == ep -> peer = from; forget(); reads(peer); break
		:: else -> forget()
		fi
	   }
	:: goto dead /* nobody came (or it crashed) */
	od;
	/* the join check: QUERY(P, E+1) must be OPENED by S */
	if
	:: atomic {
		arbiter(QUERY, ep);
		if
		:: ans == OPENED && who == peer -> forget()
		:: else -> goto halt /* refused: exits, never asks ACQUIRE */
		fi
	   }
	:: goto dead
	fi;
	do
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == END && from == peer && e == ep -> forget(); break
		:: else -> forget()
		fi
	   }
	:: goto nogo
	:: goto dead
	od;
	/* built, VERIFY checked: OK, or NO and exit */
	if
	:: atomic { send(peer, OK, ep, 0) }
	:: atomic { send(peer, NO, ep, 0) }; goto halt
	fi;
	do
	:: atomic {
		inbox[me] ? t, from, e, s ->
		if
		:: t == GO && from == peer && e == ep ->
			gotgo[me] = 1;
			forget();
			goto backup
		:: else -> forget()
		fi
	   }
	:: goto nogo
	:: goto dead
	od;

nogo:
#ifdef MUT_NOGO
	goto acquire;
#endif
	goto halt; /* half-joined: exits without asking */

dead:
halt:
	atomic { stop() }
}

/* Partitions: one replica cut off from the others, then healed. */
active proctype Partition()
{
	byte k;

end:
	do
	:: k < NPART && isolated == 0 ->
		k++;
		if
		:: isolated = P0
		:: isolated = B0
		:: isolated = J1
		:: isolated = J2
		fi
	:: isolated != 0 -> isolated = 0
	od
}

/* (P,e) opened only by the node granted (P,e-1). */
#define OPENED_BY_OWNER(e) (opened[e] == 0 || opened[e] == owner[e - 1])
#if MAXE >= 3
#define ALL_OPENED_BY_OWNER \
	(OPENED_BY_OWNER(2) && OPENED_BY_OWNER(3) && OPENED_BY_OWNER(4))
#else
#define ALL_OPENED_BY_OWNER (OPENED_BY_OWNER(2) && OPENED_BY_OWNER(3))
#endif

#define INVARIANT \
	(nlive <= 1 && (!islive[J1] || gotgo[J1]) && (!islive[J2] || gotgo[J2]) && \
	 ALL_OPENED_BY_OWNER)

/* 1 and 3 in every state, not only when a replica goes live; and what
 * the arbiter guarantees about ADVANCE. */
active proctype Monitor()
{
end:
	atomic {
		!INVARIANT -> assert(INVARIANT)
	}
}

init
{
	atomic {
		conn[P0] = B0;
		conn[B0] = P0;
		conn[J1] = ANY;
		conn[J2] = ANY;
		run Replica(P0, PRIMARY, 1, B0);
		run Replica(B0, BACKUP, 1, P0);
		run Replica(J1, JOINER, 2, 0);
		run Replica(J2, JOINER, 3, 0)
	}
}
