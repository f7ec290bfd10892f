--
-- PostgreSQL database dump
--

\restrict L2C6qPfa6VRJQiERplw0XP0FM13l3ZpzBZwQr56Hpa0bi3DUXpSMkZVVhU5KSvB

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: account; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.account (
    id text NOT NULL,
    "accountId" text NOT NULL,
    "providerId" text NOT NULL,
    "userId" text NOT NULL,
    "accessToken" text,
    "refreshToken" text,
    "idToken" text,
    "accessTokenExpiresAt" timestamp with time zone,
    "refreshTokenExpiresAt" timestamp with time zone,
    scope text,
    password text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL
);


--
-- Name: invitation; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.invitation (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    email text NOT NULL,
    role text,
    status text NOT NULL,
    "expiresAt" timestamp with time zone NOT NULL,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "inviterId" text NOT NULL
);


--
-- Name: member; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.member (
    id text NOT NULL,
    "organizationId" text NOT NULL,
    "userId" text NOT NULL,
    role text NOT NULL,
    "createdAt" timestamp with time zone NOT NULL
);


--
-- Name: organization; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.organization (
    id text NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    logo text,
    "createdAt" timestamp with time zone NOT NULL,
    metadata text
);


--
-- Name: session; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.session (
    id text NOT NULL,
    "expiresAt" timestamp with time zone NOT NULL,
    token text NOT NULL,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL,
    "ipAddress" text,
    "userAgent" text,
    "userId" text NOT NULL,
    "activeOrganizationId" text
);


--
-- Name: user; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."user" (
    id text NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    "emailVerified" boolean NOT NULL,
    image text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Name: verification; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.verification (
    id text NOT NULL,
    identifier text NOT NULL,
    value text NOT NULL,
    "expiresAt" timestamp with time zone NOT NULL,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Data for Name: account; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.account VALUES ('8elkvtFNJqIA3jU4gVrdUIHKidsLuF2r', 'XC1ExXjStFjfers8PLkmLJkOKXZY48tD', 'credential', 'XC1ExXjStFjfers8PLkmLJkOKXZY48tD', NULL, NULL, NULL, NULL, NULL, NULL, '920585ccc357048b2029efffaec06a2c:94079886f43df7fcf5011a21dd6fadf84e838375e0c73fa9990ccb2086a06c5170b779653f1ebf4530d0518388bbe843de12265bbb507cdabece4530a37c6476', '2026-11-22 04:30:27.884+00', '2026-11-22 04:30:27.884+00');
INSERT INTO public.account VALUES ('8Q8HAlO8xzuJ13GqMz3dFpPZjqcQeEvl', 'zOvzFyDLSBoYVnZkYO38YOidIVNvsRxl', 'credential', 'zOvzFyDLSBoYVnZkYO38YOidIVNvsRxl', NULL, NULL, NULL, NULL, NULL, NULL, '07922f6af4e648a865eef08a39c09d8f:198b089a4748ca857541ef843ce256219c3021bc453f744508c8c28f85995b712a31fedec15815d1fa4b4317334740d5dc563ba366e45b0359f244ddce202472', '2026-11-22 04:30:28.02+00', '2026-11-22 04:30:28.02+00');
INSERT INTO public.account VALUES ('QHPcLc0XtZX5uMDDsTCiGq1EvrsiCpEW', 'yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW', 'credential', 'yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW', NULL, NULL, NULL, NULL, NULL, NULL, '3bbfd1b6224e3670b3cc8de95bccaae4:0504c7341ca2f950e8e620a3e5280e105268c312e772ec7638040cc1ed85d26fad52deb1a22ce52f0d7a9696b08cebd0512da17426d07ed479a210ec4b974231', '2026-11-22 04:30:28.162+00', '2026-11-22 04:30:28.162+00');
INSERT INTO public.account VALUES ('ImyETUvEaHGowPAdDZpUODSo3QSlVbce', 'BSAtzy2IWwQpCvAOapzjlWeXeLde6Nvz', 'credential', 'BSAtzy2IWwQpCvAOapzjlWeXeLde6Nvz', NULL, NULL, NULL, NULL, NULL, NULL, '0e638c6bd718def85b0da9d993fb828f:daae808e206dee1a722cce8fa1fab04cecc0941f24b703ea02bd6816aac711afffb0dfb78e8923634def4b36a74a5a7f11689505f5af072bdc3e063f7b50ebc3', '2026-11-22 04:30:28.278+00', '2026-11-22 04:30:28.278+00');


--
-- Data for Name: invitation; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: member; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: organization; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: session; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.session VALUES ('a4nhfPoT9F9l3uIe7zmMi6p5RMsIiBIG', '2026-11-29 04:30:27.886+00', 'ZzjMHlkXYx1Ync0Z3tSDd1wJxeAjyxey', '2026-11-22 04:30:27.886+00', '2026-11-22 04:30:27.886+00', '', 'node', 'XC1ExXjStFjfers8PLkmLJkOKXZY48tD', NULL);
INSERT INTO public.session VALUES ('y2AYiZK8Ngh818sJHUvt7JhWVGPvgvFb', '2026-11-29 04:30:28.021+00', 'MBOM1DdDq0laN542W9mgXOpHzXO7Lpy4', '2026-11-22 04:30:28.021+00', '2026-11-22 04:30:28.021+00', '', 'node', 'zOvzFyDLSBoYVnZkYO38YOidIVNvsRxl', NULL);
INSERT INTO public.session VALUES ('x6MNFa7cKAceBDbngeIveiDwaWor2QYG', '2026-11-29 04:30:28.164+00', 'tK7w6xkVJMJPjVI306duM4s2S8r5f4bx', '2026-11-22 04:30:28.165+00', '2026-11-22 04:30:28.165+00', '', 'node', 'yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW', NULL);
INSERT INTO public.session VALUES ('EKgGaln6KnT0YQT3KHp67osifr650t15', '2026-11-29 04:30:28.279+00', 'O6JYEFlfZgtnza9UvrM8W9SDHCa0buPm', '2026-11-22 04:30:28.279+00', '2026-11-22 04:30:28.279+00', '', 'node', 'BSAtzy2IWwQpCvAOapzjlWeXeLde6Nvz', NULL);


--
-- Data for Name: user; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public."user" VALUES ('XC1ExXjStFjfers8PLkmLJkOKXZY48tD', 'Alice', 'alice@example.com', false, NULL, '2026-11-22 04:30:27.88+00', '2026-11-22 04:30:27.88+00');
INSERT INTO public."user" VALUES ('zOvzFyDLSBoYVnZkYO38YOidIVNvsRxl', 'Bob Mixed', 'bob.mixed@example.com', false, NULL, '2026-11-22 04:30:28.018+00', '2026-11-22 04:30:28.018+00');
INSERT INTO public."user" VALUES ('yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW', 'Carol', 'carol@example.com', false, NULL, '2026-11-22 04:30:28.161+00', '2026-11-22 04:30:28.161+00');
INSERT INTO public."user" VALUES ('BSAtzy2IWwQpCvAOapzjlWeXeLde6Nvz', '', 'dave@example.com', false, NULL, '2026-11-22 04:30:28.276+00', '2026-11-22 04:30:28.276+00');


--
-- Data for Name: verification; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.verification VALUES ('l65mM8s1CBP49RLNwMUdpVaoYKQJDbiM', 'reset-password:nrVm5j8QMrAvLlFFwCi08byt', 'yJ2NrENmFiSKsGJuelcz6xwtgiwhGRQW', '2026-11-22 05:30:28.297+00', '2026-11-22 04:30:28.298+00', '2026-11-22 04:30:28.298+00');


--
-- Name: account account_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.account
    ADD CONSTRAINT account_pkey PRIMARY KEY (id);


--
-- Name: invitation invitation_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.invitation
    ADD CONSTRAINT invitation_pkey PRIMARY KEY (id);


--
-- Name: member member_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT member_pkey PRIMARY KEY (id);


--
-- Name: organization organization_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organization
    ADD CONSTRAINT organization_pkey PRIMARY KEY (id);


--
-- Name: organization organization_slug_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.organization
    ADD CONSTRAINT organization_slug_key UNIQUE (slug);


--
-- Name: session session_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.session
    ADD CONSTRAINT session_pkey PRIMARY KEY (id);


--
-- Name: session session_token_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.session
    ADD CONSTRAINT session_token_key UNIQUE (token);


--
-- Name: user user_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_email_key UNIQUE (email);


--
-- Name: user user_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_pkey PRIMARY KEY (id);


--
-- Name: verification verification_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.verification
    ADD CONSTRAINT verification_pkey PRIMARY KEY (id);


--
-- Name: account_userId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "account_userId_idx" ON public.account USING btree ("userId");


--
-- Name: invitation_email_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX invitation_email_idx ON public.invitation USING btree (email);


--
-- Name: invitation_organizationId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "invitation_organizationId_idx" ON public.invitation USING btree ("organizationId");


--
-- Name: member_organizationId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "member_organizationId_idx" ON public.member USING btree ("organizationId");


--
-- Name: member_userId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "member_userId_idx" ON public.member USING btree ("userId");


--
-- Name: session_userId_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX "session_userId_idx" ON public.session USING btree ("userId");


--
-- Name: verification_identifier_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX verification_identifier_idx ON public.verification USING btree (identifier);


--
-- Name: account account_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.account
    ADD CONSTRAINT "account_userId_fkey" FOREIGN KEY ("userId") REFERENCES public."user"(id) ON DELETE CASCADE;


--
-- Name: invitation invitation_inviterId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.invitation
    ADD CONSTRAINT "invitation_inviterId_fkey" FOREIGN KEY ("inviterId") REFERENCES public."user"(id) ON DELETE CASCADE;


--
-- Name: invitation invitation_organizationId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.invitation
    ADD CONSTRAINT "invitation_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: member member_organizationId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT "member_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES public.organization(id) ON DELETE CASCADE;


--
-- Name: member member_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.member
    ADD CONSTRAINT "member_userId_fkey" FOREIGN KEY ("userId") REFERENCES public."user"(id) ON DELETE CASCADE;


--
-- Name: session session_userId_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.session
    ADD CONSTRAINT "session_userId_fkey" FOREIGN KEY ("userId") REFERENCES public."user"(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict L2C6qPfa6VRJQiERplw0XP0FM13l3ZpzBZwQr56Hpa0bi3DUXpSMkZVVhU5KSvB

